package identity

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/controller/identity/oidc"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
	"github.com/gatehouse-ztna/gatehouse/internal/testidp"
)

const idpRedirect = "https://gatehouse.test/oidc/callback"

var idpSource = netip.MustParseAddr("192.0.2.7")

// upstreamEnv is an env whose Service knows one real IdP (alice is there,
// in IdP groups eng and staff; eng maps to engineers, ops to operators).
type upstreamEnv struct {
	*env
	idp      *testidp.IdP
	provider *oidc.Provider
}

func newUpstreamEnv(t *testing.T) *upstreamEnv {
	t.Helper()
	idp := testidp.New(t, testidp.Options{})
	idp.AddClient("gatehouse", "s3cret", idpRedirect)
	idp.AddUser(testidp.User{Subject: "u-alice", Username: "alice", Password: "pw-alice", Email: "alice@example.com",
		EmailVerified: true, Groups: []string{"eng", "staff"}})
	p := newProvider(t, idp)
	return &upstreamEnv{env: newEnv(t, Config{Upstreams: []*oidc.Provider{p}}), idp: idp, provider: p}
}

func newProvider(t *testing.T, idp *testidp.IdP) *oidc.Provider {
	t.Helper()
	p, err := oidc.New(oidc.Config{Issuer: idp.Issuer, ClientID: "gatehouse", ClientSecret: "s3cret", RedirectURL: idpRedirect,
		GroupMap: map[string]string{"eng": "engineers", "ops": "operators"}, HTTPClient: idp.HTTPClient()}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// verify signs user in at the IdP through p and returns what p verified.
func verify(t *testing.T, idp *testidp.IdP, p *oidc.Provider, user, password string) *oidc.Verified {
	t.Helper()
	ctx := context.Background()
	st, err := p.Begin(ctx, "")
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	back, err := idp.Login(ctx, st.URL, user, password)
	if err != nil {
		t.Fatalf("IdP login: %v", err)
	}
	v, err := p.Callback(ctx, back.Query().Get("state"), back.Query().Get("code"))
	if err != nil {
		t.Fatalf("Callback: %v", err)
	}
	return v
}

// signInUpstream signs alice in through the IdP and starts a session on
// device.
func (e *upstreamEnv) signInUpstream(t *testing.T, device string) (Proof, Session, Tokens) {
	t.Helper()
	p, err := e.SignInUpstream(t.Context(), verify(t, e.idp, e.provider, "alice", "pw-alice"), idpSource)
	if err != nil {
		t.Fatalf("SignInUpstream = %v", err)
	}
	sess, tok, err := e.StartSession(t.Context(), p, device)
	if err != nil {
		t.Fatalf("StartSession = %v", err)
	}
	return p, sess, tok
}

func (e *upstreamEnv) groups(t *testing.T, user string) string {
	t.Helper()
	u, err := e.st.GetUser(t.Context(), user)
	if err != nil {
		t.Fatalf("GetUser(%q) = %v", user, err)
	}
	return fmt.Sprint(u.Groups)
}

func TestSignInUpstream(t *testing.T) {
	e := newUpstreamEnv(t)
	p, sess, _ := e.signInUpstream(t, "dev1")
	if p.User() != "alice@example.com" || !slices.Equal(p.Methods(), []string{MethodOIDC, "pwd"}) || p.MFA() {
		t.Errorf("SignInUpstream = %s %v mfa=%v, want alice@example.com [oidc pwd] without MFA", p.User(), p.Methods(), p.MFA())
	}
	if !slices.Equal(sess.Methods, []string{MethodOIDC, "pwd"}) {
		t.Errorf("session methods = %v, want [oidc pwd]", sess.Methods)
	}
	// Made at the first sign-in, in the mapped group only.
	if g := e.groups(t, "alice@example.com"); g != "[engineers]" {
		t.Errorf("alice's groups = %s, want [engineers]", g)
	}
	if !slices.Contains(e.kinds(), LoginSucceeded) {
		t.Errorf("events %v, want login_succeeded", e.kinds())
	}

	// The IdP says a second factor was used: the session has MFA.
	e.idp.AddUser(testidp.User{Subject: "u-bob", Username: "bob", Password: "pw-bob", Email: "bob@example.com",
		EmailVerified: true, AMR: []string{"pwd", "mfa"}})
	pb, err := e.SignInUpstream(t.Context(), verify(t, e.idp, e.provider, "bob", "pw-bob"), idpSource)
	if err != nil || !pb.MFA() || !slices.Equal(pb.Methods(), []string{MethodOIDC, "pwd", "mfa"}) {
		t.Errorf("SignInUpstream(bob with mfa) = %v %v mfa=%v, want [oidc pwd mfa] with MFA", err, pb.Methods(), pb.MFA())
	}

	// What an IdP that is not configured verified is refused.
	other := testidp.New(t, testidp.Options{})
	other.AddClient("gatehouse", "s3cret", idpRedirect)
	other.AddUser(testidp.User{Subject: "u-alice", Username: "alice", Password: "x", Email: "alice@example.com", EmailVerified: true})
	if _, err := e.SignInUpstream(t.Context(), verify(t, other, newProvider(t, other), "alice", "x"), idpSource); err == nil {
		t.Error("SignInUpstream(from an IdP not configured) = nil error, want refused")
	}

	// A disabled user is refused.
	if err := e.DisableUser(t.Context(), owner, "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.SignInUpstream(t.Context(), verify(t, e.idp, e.provider, "alice", "pw-alice"), idpSource); !errors.Is(err, ErrUserDisabled) {
		t.Errorf("SignInUpstream(disabled) = %v, want ErrUserDisabled", err)
	}

	// A built-in user of the same name is not taken over.
	e.user(t, "carol@example.com")
	if err := e.SetPassword(t.Context(), "carol@example.com", "a long enough password"); err != nil {
		t.Fatal(err)
	}
	e.idp.AddUser(testidp.User{Subject: "u-carol", Username: "carol", Password: "pw-carol", Email: "carol@example.com", EmailVerified: true})
	if _, err := e.SignInUpstream(t.Context(), verify(t, e.idp, e.provider, "carol", "pw-carol"), idpSource); !errors.Is(err, store.ErrExists) {
		t.Errorf("SignInUpstream onto a password user = %v, want ErrExists", err)
	}
}

// TestRefreshUpstream: a refresh re-reads the user at the IdP: groups
// follow it; the IdP refusing ends the session; the IdP unreachable fails
// the refresh without ending it.
func TestRefreshUpstream(t *testing.T) {
	e := newUpstreamEnv(t)
	_, sess, tok := e.signInUpstream(t, "dev1")
	e.take()

	e.idp.SetGroups("u-alice", "ops", "staff")
	_, tok, err := e.Refresh(t.Context(), tok.Refresh, "dev1")
	if err != nil {
		t.Fatalf("Refresh = %v", err)
	}
	if g := e.groups(t, "alice@example.com"); g != "[operators]" {
		t.Errorf("groups after the IdP moved alice = %s, want [operators]", g)
	}
	if e.idp.Refreshes() != 1 {
		t.Errorf("IdP refreshes = %d, want 1", e.idp.Refreshes())
	}

	// Another device presenting the token: no IdP call, the session ends
	// as before (wrong device).
	if _, _, err := e.Refresh(t.Context(), tok.Refresh, "dev2"); !errors.Is(err, ErrWrongDevice) || e.idp.Refreshes() != 1 {
		t.Errorf("Refresh from another device = %v (IdP refreshes %d), want ErrWrongDevice without asking the IdP", err, e.idp.Refreshes())
	}

	_, _, tok = e.signInUpstream(t, "dev1")
	e.take()
	e.idp.Disable("u-alice")
	if _, _, err := e.Refresh(t.Context(), tok.Refresh, "dev1"); !errors.Is(err, ErrUpstreamRefused) {
		t.Fatalf("Refresh of a user disabled at the IdP = %v, want ErrUpstreamRefused", err)
	}
	revoked := false
	for _, ev := range e.take() {
		revoked = revoked || (ev.Kind == SessionRevoked && ev.Reason == ReasonUpstreamRefused)
	}
	if !revoked {
		t.Error("no SessionRevoked (upstream_refused) event")
	}
	if _, err := e.Authenticate(t.Context(), tok.Access, "dev1"); !errors.Is(err, ErrSessionRevoked) {
		t.Errorf("Authenticate after the IdP refused = %v, want ErrSessionRevoked", err)
	}
	_ = sess
}

func TestRefreshUpstreamUnavailable(t *testing.T) {
	e := newUpstreamEnv(t)
	_, _, tok := e.signInUpstream(t, "dev1")
	e.idp.Close()
	_, _, err := e.Refresh(t.Context(), tok.Refresh, "dev1")
	if !errors.Is(err, oidc.ErrUnavailable) || errors.Is(err, ErrUpstreamRefused) {
		t.Fatalf("Refresh with the IdP down = %v, want ErrUnavailable", err)
	}
	// Nothing rotated or ended: the same tokens still work.
	if _, err := e.Authenticate(t.Context(), tok.Access, "dev1"); err != nil {
		t.Errorf("Authenticate after a failed upstream refresh = %v, want the session live", err)
	}
}
