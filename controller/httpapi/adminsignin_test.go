package httpapi

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
	"github.com/gatehouse-ztna/gatehouse/wire"
)

// adminEnv is signinEnv with admins: each admin signs in once (its TOTP
// code of the next step is spent by then), so tests make one per sign-in.
type adminEnv struct {
	*signinEnv
	caPEM []byte
}

func newAdminEnv(t *testing.T) *adminEnv {
	t.Helper()
	e := newSigninEnv(t, Config{}, identity.Config{})
	caPEM, err := os.ReadFile(e.tc.Server.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	return &adminEnv{signinEnv: e, caPEM: caPEM}
}

var ownerPrincipal = identity.Principal{Kind: identity.PrincipalToken, Name: "test", Role: identity.Owner}

// addAdmin creates user with a password, role and (withTOTP) a
// confirmed TOTP seed, which it returns.
func (e *adminEnv) addAdmin(t *testing.T, user string, role identity.Role, withTOTP bool) string {
	t.Helper()
	ctx := context.Background()
	if _, _, err := e.tc.core.Users.Create(ctx, testOwner, api.User{Name: user, Groups: []string{}}); err != nil {
		t.Fatalf("create %s: %v", user, err)
	}
	if err := e.tc.core.Identity.SetPassword(ctx, user, alicePassword); err != nil {
		t.Fatal(err)
	}
	if err := e.tc.core.Identity.SetRole(ctx, ownerPrincipal, user, role); err != nil {
		t.Fatal(err)
	}
	if !withTOTP {
		return ""
	}
	enr, err := e.tc.core.Identity.BeginTOTP(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCode(enr.Secret, time.Now())
	if err := e.tc.core.Identity.ConfirmTOTP(ctx, user, code); err != nil {
		t.Fatal(err)
	}
	return enr.Secret
}

// adminLogin is `gatehouse admin login` for user: a fresh CLI key, the
// device flow as gatehouse-admin, the person through the pages
// (password, TOTP when it has one, approve). It returns the session's
// client, the key and the token answer.
func (e *adminEnv) adminLogin(t *testing.T, user, totpSecret string) (*adminclient.Client, ed25519.PrivateKey, api.TokenResponse) {
	t.Helper()
	pub, key, _ := ed25519.GenerateKey(nil)
	ctx := context.Background()
	da, err := wire.StartDeviceAuthorization(ctx, e.hc, e.base, wire.DeviceAuthorizationForm{
		ClientID: api.ClientAdmin, DeviceKey: base64.StdEncoding.EncodeToString(pub), Hostname: "admin-laptop"})
	if err != nil {
		t.Fatalf("StartDeviceAuthorization(admin) = %v", err)
	}
	polled := make(chan pollResult, 1)
	pctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	go func() {
		tok, err := wire.PollTokenAs(pctx, e.hc, e.base, api.ClientAdmin, da.DeviceCode, da.Interval)
		polled <- pollResult{tok, err}
	}()
	b := e.browser(t)
	saved := e.totpSecret
	e.totpSecret = totpSecret
	b.signInThroughPages(e.signinEnv, da.UserCode, user, alicePassword, "approve")
	e.totpSecret = saved
	if !strings.Contains(b.body, "admin CLI is signed in") {
		t.Errorf("done page after approving an admin CLI:\n%s", b.body)
	}
	res := <-polled
	if res.err != nil {
		t.Fatalf("admin login of %s: poll = %v", user, res.err)
	}
	if want := api.AdminBinding(pub); res.tok.DeviceID != want || res.tok.User != user {
		t.Fatalf("admin login: device %q user %q, want %q %q", res.tok.DeviceID, res.tok.User, want, user)
	}
	s := adminclient.NewSession(key, adminclient.TokensOf(res.tok, time.Now()), nil)
	c, err := adminclient.NewWithSession(e.base, e.caPEM, s)
	if err != nil {
		t.Fatal(err)
	}
	return c, key, res.tok
}

// raw sends an admin request by hand: token as bearer ("" for none) and
// proof as the proof header ("" for none).
func (e *adminEnv) raw(t *testing.T, method, path string, body []byte, token, proof string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, e.base+path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if proof != "" {
		req.Header.Set(api.HeaderAdminProof, proof)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := e.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(out)
}

func sign(t *testing.T, key ed25519.PrivateKey, method, path string, body []byte, token string, at time.Time) string {
	t.Helper()
	p, err := api.SignAdminProof(key, method, path, body, token, at)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func userBody(name string) []byte {
	b, _ := json.Marshal(api.User{Name: name, Groups: []string{}})
	return b
}

// userExists says whether the store holds user.
func (e *adminEnv) userExists(t *testing.T, name string) bool {
	t.Helper()
	us, err := e.tc.core.Users.List(context.Background(), testOwner)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range us {
		if u.Name == name {
			return true
		}
	}
	return false
}

// sessionOf is the store's session with access token tok's user and
// device, the newest.
func (e *adminEnv) session(t *testing.T, user, device string) identity.Session {
	t.Helper()
	ss, err := e.tc.core.Identity.Sessions(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	var out identity.Session
	for _, s := range ss {
		if s.Device == device && s.CreatedAt.After(out.CreatedAt) {
			out = s
		}
	}
	if out.ID == "" {
		t.Fatalf("no session of %s on %s", user, device)
	}
	return out
}

// TestAdminSignInEndToEnd: gatehouse admin login's device flow through
// the pages gives a session bound to the CLI key (no device row), whose
// signed requests act with the user's role, read per request: an
// auditor reads and may not write; made admin, it writes. The session
// refreshes with a proof, and logout ends it.
func TestAdminSignInEndToEnd(t *testing.T) {
	e := newAdminEnv(t)
	ctx := context.Background()
	secret := e.addAdmin(t, "ann", identity.Auditor, true)
	devsBefore := e.snapshot(t).devices
	c, key, tok := e.adminLogin(t, "ann", secret)
	if n := e.snapshot(t).devices; n != devsBefore {
		t.Errorf("devices after admin login = %d, want %d (an admin CLI is no device)", n, devsBefore)
	}
	if s := e.session(t, "ann", tok.DeviceID); s.MFAAt.IsZero() || !strings.HasPrefix(s.Device, api.AdminBindingPrefix) {
		t.Errorf("session = %+v, want MFA and an admin-cli binding", s)
	}
	if _, err := adminclient.List[api.User](ctx, c, api.PathUsers); err != nil {
		t.Fatalf("auditor List(users) = %v, want it allowed", err)
	}
	err := adminclient.Create(ctx, c, api.PathUsers, &api.User{Name: "mallory", Groups: []string{}})
	wantStatus(t, "auditor Create(user)", err, http.StatusForbidden, "auditor")
	if e.userExists(t, "mallory") {
		t.Fatal("an auditor's session created a user")
	}
	if err := e.tc.core.Identity.SetRole(ctx, ownerPrincipal, "ann", identity.Admin); err != nil {
		t.Fatal(err)
	}
	if err := adminclient.Create(ctx, c, api.PathUsers, &api.User{Name: "dave", Groups: []string{}}); err != nil || !e.userExists(t, "dave") {
		t.Fatalf("admin Create(dave) = %v, want it made", err)
	}

	// Refresh: a session whose access token runs out refreshes with a
	// proof before its next request; the old access token is dead.
	old := tok.AccessToken
	s := adminclient.NewSession(key, adminclient.SessionTokens{Access: tok.AccessToken, Refresh: tok.RefreshToken, User: "ann"}, nil)
	rc, _ := adminclient.NewWithSession(e.base, e.caPEM, s)
	if _, err := adminclient.List[api.User](ctx, rc, api.PathUsers); err != nil {
		t.Fatalf("List(users) after refresh = %v", err)
	}
	if s.Tokens().Access == old || s.Tokens().Refresh == tok.RefreshToken {
		t.Fatal("the session did not refresh its tokens")
	}
	if code, body := e.raw(t, "GET", api.PathUsers, nil, old, sign(t, key, "GET", api.PathUsers, nil, old, time.Now())); code != http.StatusUnauthorized {
		t.Errorf("the rotated-away access token = %d %s, want 401", code, body)
	}

	// Logout ends it: the next request is refused.
	if err := rc.Logout(ctx); err != nil {
		t.Fatalf("Logout() = %v", err)
	}
	_, err = adminclient.List[api.User](ctx, rc, api.PathUsers)
	wantStatus(t, "List(users) after logout", err, http.StatusUnauthorized, "revoked")
}

// TestAdminSessionRefusals: everything short of the whole proof by the
// session's key over this request, once, now, is refused and changes
// nothing.
func TestAdminSessionRefusals(t *testing.T) {
	e := newAdminEnv(t)
	ctx := context.Background()
	secret := e.addAdmin(t, "ann", identity.Owner, true)
	_, key, tok := e.adminLogin(t, "ann", secret)
	access := tok.AccessToken
	_, thief, _ := ed25519.GenerateKey(nil)
	post := func(name, proof string) (int, string) {
		return e.raw(t, "POST", api.PathUsers, userBody(name), access, proof)
	}
	refused := func(what string, code int, body string, want int, msg string) {
		t.Helper()
		if code != want || !strings.Contains(body, msg) {
			t.Errorf("%s = %d %s, want %d with %q", what, code, body, want, msg)
		}
	}
	now := time.Now()
	code, body := post("u1", "")
	refused("token without proof", code, body, http.StatusUnauthorized, "needs the proof")
	code, body = post("u2", sign(t, key, "POST", api.PathUsers, userBody("u2"), access, now.Add(-2*time.Minute)))
	refused("stale proof", code, body, http.StatusUnauthorized, "clock")
	code, body = post("u3", sign(t, key, "POST", api.PathUsers, userBody("other"), access, now))
	refused("body swapped", code, body, http.StatusUnauthorized, "signature")
	code, body = post("u4", sign(t, key, "POST", api.PathUsers+"?x=1", userBody("u4"), access, now))
	refused("proof of another path", code, body, http.StatusUnauthorized, "signature")
	// The session's public key in the proof, signed by another key.
	forged := strings.Split(sign(t, thief, "POST", api.PathUsers, userBody("u5"), access, now), ".")
	forged[1] = base64.RawURLEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
	code, body = post("u5", strings.Join(forged, "."))
	refused("forged proof", code, body, http.StatusUnauthorized, "signature")

	// A stranger's own key and a made-up token: the proof verifies, the
	// token does not; its nonce is not remembered (strangers must not
	// fill the cache that live sessions' proofs need).
	held := e.signIn().proofs.held()
	fake := "gha_" + strings.Repeat("A", 43)
	code, body = e.raw(t, "POST", api.PathUsers, userBody("u6"), fake, sign(t, thief, "POST", api.PathUsers, userBody("u6"), fake, now))
	refused("stranger's proof and token", code, body, http.StatusUnauthorized, "")
	if n := e.signIn().proofs.held(); n != held {
		t.Errorf("nonces held after a stranger's proof = %d, want %d", n, held)
	}

	// Replay: the same request and proof, twice.
	good := sign(t, key, "POST", api.PathUsers, userBody("r1"), access, now)
	if code, body := post("r1", good); code != http.StatusOK {
		t.Fatalf("a good proof = %d %s", code, body)
	}
	if _, err := e.tc.core.Users.Delete(ctx, testOwner, "r1"); err != nil {
		t.Fatal(err)
	}
	code, body = post("r1", good)
	refused("replayed proof", code, body, http.StatusUnauthorized, "used before")
	for _, u := range []string{"u1", "u2", "u3", "u4", "u5", "u6", "other", "r1"} {
		if e.userExists(t, u) {
			t.Errorf("user %s exists after a refused request", u)
		}
	}
	if s := e.session(t, "ann", tok.DeviceID); !s.RevokedAt.IsZero() {
		t.Fatalf("session revoked by refusals before any key but its own was bound: %+v", s)
	}

	// The refresh takes the proof too, and only for gatehouse-admin.
	form := url.Values{"grant_type": {api.GrantTypeRefreshToken}, "client_id": {api.ClientAdmin}, api.FieldRefreshToken: {tok.RefreshToken}}
	refresh := func(form url.Values, proof string) (int, string) {
		req, _ := http.NewRequest("POST", e.base+api.PathToken, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if proof != "" {
			req.Header.Set(api.HeaderAdminProof, proof)
		}
		res, err := e.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	code, body = refresh(form, "")
	refused("refresh without proof", code, body, http.StatusBadRequest, api.OAuthInvalidProof)
	agentForm := url.Values{"grant_type": {api.GrantTypeRefreshToken}, "client_id": {api.ClientAgent}, api.FieldRefreshToken: {tok.RefreshToken}}
	code, body = refresh(agentForm, sign(t, key, "POST", api.PathToken, []byte(agentForm.Encode()), tok.RefreshToken, now))
	refused("refresh as the agent", code, body, http.StatusBadRequest, api.OAuthUnsupportedGrantType)
	if s := e.session(t, "ann", tok.DeviceID); s.Generation != 1 || !s.RevokedAt.IsZero() {
		t.Fatalf("refused refreshes changed the session: %+v", s)
	}

	// Another key's own proof: the token turned up elsewhere, so it was
	// stolen; the session ends, and its own key is refused from then on.
	code, body = post("t1", sign(t, thief, "POST", api.PathUsers, userBody("t1"), access, now))
	refused("proof by another key", code, body, http.StatusUnauthorized, "")
	if s := e.session(t, "ann", tok.DeviceID); s.RevokedAt.IsZero() {
		t.Error("a proof by another key left the session live")
	}
	code, body = post("t2", sign(t, key, "POST", api.PathUsers, userBody("t2"), access, now))
	refused("the revoked session", code, body, http.StatusUnauthorized, "revoked")
	for _, u := range []string{"t1", "t2"} {
		if e.userExists(t, u) {
			t.Errorf("user %s exists after a refused request", u)
		}
	}
}

// TestAdminSessionNeedsMFAAndAdminClient: a session without a second
// factor gets 403 with the fix; an agent's session token is refused with
// or without a proof (with one it is a stolen token: its session ends);
// an agent's device code does not become an admin session; an admin
// session revoked by an owner is refused.
func TestAdminSessionNeedsMFAAndAdminClient(t *testing.T) {
	e := newAdminEnv(t)
	ctx := context.Background()
	e.addAdmin(t, "nomfa", identity.Owner, false)
	c, _, _ := e.adminLogin(t, "nomfa", "")
	_, err := adminclient.List[api.User](ctx, c, api.PathUsers)
	wantStatus(t, "List(users) without MFA", err, http.StatusForbidden, "sign in with a second factor: gatehouse admin login")

	// alice: owner with TOTP, signed in on an enrolled laptop (the agent).
	if err := e.tc.core.Identity.SetRole(ctx, ownerPrincipal, "alice", identity.Owner); err != nil {
		t.Fatal(err)
	}
	_, agent := e.signInDevice(t, wire.DeviceAuthorizationForm{DeviceKey: newKey(t), Hostname: "laptop"}, "alice", alicePassword, "approve")
	if agent.err != nil {
		t.Fatal(agent.err)
	}
	at := agent.tok.AccessToken
	code, body := e.raw(t, "GET", api.PathUsers, nil, at, "")
	if code != http.StatusUnauthorized {
		t.Errorf("agent's token without proof = %d %s, want 401", code, body)
	}
	_, cli, _ := ed25519.GenerateKey(nil)
	code, body = e.raw(t, "GET", api.PathUsers, nil, at, sign(t, cli, "GET", api.PathUsers, nil, at, time.Now()))
	if code != http.StatusUnauthorized {
		t.Errorf("agent's token with a CLI proof = %d %s, want 401", code, body)
	}
	if s := e.session(t, "alice", agent.tok.DeviceID); s.RevokedAt.IsZero() {
		t.Error("an agent's token presented with an admin proof left its session live")
	}

	// An agent's code polled as gatehouse-admin.
	da, err := wire.StartDeviceAuthorization(ctx, e.hc, e.base, wire.DeviceAuthorizationForm{DeviceKey: newKey(t), Hostname: "laptop2"})
	if err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err = wire.PollTokenAs(pctx, e.hc, e.base, api.ClientAdmin, da.DeviceCode, da.Interval)
	if oe, ok := errors.AsType[*wire.OAuthError](err); !ok || oe.Code != api.OAuthInvalidGrant {
		t.Errorf("agent's code polled as %s = %v, want invalid_grant", api.ClientAdmin, err)
	}

	// Revoked by an owner.
	secret := e.addAdmin(t, "ann", identity.Admin, true)
	ac, _, tok := e.adminLogin(t, "ann", secret)
	if _, err := adminclient.List[api.User](ctx, ac, api.PathUsers); err != nil {
		t.Fatal(err)
	}
	if err := e.tc.core.Identity.RevokeSession(ctx, ownerPrincipal, e.session(t, "ann", tok.DeviceID).ID); err != nil {
		t.Fatal(err)
	}
	err = adminclient.Create(ctx, ac, api.PathUsers, &api.User{Name: "late", Groups: []string{}})
	wantStatus(t, "Create(user) by a revoked session", err, http.StatusUnauthorized, "revoked")
	if e.userExists(t, "late") {
		t.Error("a revoked session created a user")
	}
}
