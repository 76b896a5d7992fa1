package controller

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
	"github.com/gatehouse-ztna/gatehouse/wire"
)

// signInCore is a core with alice (group eng, a password), app grafana
// open to eng without posture, and one device of alice's with its key.
type signInCore struct {
	*Controller
	device string
	key    ed25519.PrivateKey
}

const corePassword = "correct horse battery staple"

var coreAdmin = identity.Principal{Kind: identity.PrincipalToken, Name: "test", Role: identity.Admin}

func newSignInCore(t testing.TB) *signInCore {
	t.Helper()
	ctx := context.Background()
	c, err := New(ctx, Config{DataDir: t.TempDir(),
		Identity: identity.Config{Password: identity.PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}}})
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	t.Cleanup(func() { c.Close() })
	must := func(_ any, _ Change, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Users.Create(ctx, testOwner, api.User{Name: "alice", Groups: []string{"eng"}}))
	must(c.Users.Create(ctx, testOwner, api.User{Name: "bob", Groups: []string{"eng"}}))
	must(c.Apps.Create(ctx, testOwner, api.App{Name: "grafana", Upstreams: []string{"127.0.0.1:3000"}}))
	must(c.Policies.Create(ctx, testOwner, api.Policy{Name: "eng", Groups: []string{"eng"}, Apps: []string{"grafana"}}))
	for _, u := range []string{"alice", "bob"} {
		if err := c.Identity.SetPassword(ctx, u, corePassword); err != nil {
			t.Fatal(err)
		}
	}
	tok, _, err := c.Enrollment.CreateToken(ctx, testOwner, api.EnrollmentTokenRequest{User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	dev, _, err := c.Enrollment.Enroll(ctx, api.EnrollRequest{Token: tok.Token, PublicKey: base64.StdEncoding.EncodeToString(pub), Hostname: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	return &signInCore{Controller: c, device: dev.ID, key: key}
}

// signIn opens a session of user on the core's device.
func (c *signInCore) signIn(t testing.TB, user string) (identity.Session, identity.Tokens) {
	t.Helper()
	ctx := context.Background()
	proof, err := c.Identity.CheckPassword(ctx, identity.Login{User: user, Password: corePassword, Source: netip.MustParseAddr("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	sess, tok, err := c.Identity.StartSession(ctx, proof, c.device)
	if err != nil {
		t.Fatal(err)
	}
	return sess, tok
}

// link authenticates the device presenting access (none if empty), as
// the transport does on plain HTTP, and attaches the link.
func (c *signInCore) link(t *testing.T, access string) (*AgentLink, error) {
	t.Helper()
	ctx := context.Background()
	hello, nonce, err := wire.NewHello()
	if err != nil {
		t.Fatal(err)
	}
	auth, err := wire.SignProof(c.key, nil, c.device, hello)
	if err != nil {
		t.Fatal(err)
	}
	auth.AccessToken = access
	l, err := c.AuthenticateAgent(ctx, auth, nil, nonce)
	if err != nil {
		return nil, err
	}
	if err := c.AttachAgent(ctx, l); err != nil {
		t.Fatalf("AttachAgent = %v", err)
	}
	t.Cleanup(func() { l.Close("test over"); l.Wait() })
	return l, nil
}

// next is the link's next queued message of type typ (others skipped).
func next(t *testing.T, l *AgentLink, typ string) api.Envelope {
	t.Helper()
	deadline := time.After(2 * time.Second)
	for {
		select {
		case env := <-l.Outbox():
			if env.Type == typ {
				return env
			}
		case <-deadline:
			t.Fatalf("no %s message on the link within 2 s", typ)
		}
	}
}

// decision waits for a decision set in which app's first reason has
// code, and fails the test if none comes.
func decision(t *testing.T, l *AgentLink, app, code string) api.Decision {
	t.Helper()
	deadline := time.After(2 * time.Second)
	var last api.Decision
	for {
		for _, env := range l.TakeDecisions() {
			var m api.DecisionsMsg
			if err := env.Decode(&m); err != nil {
				t.Fatal(err)
			}
			for _, d := range m.Decisions {
				if d.App == app && len(d.Reasons) > 0 {
					if last = d; d.Reasons[0].Code == code {
						return d
					}
				}
			}
		}
		select {
		case <-l.DecisionsReady():
		case <-deadline:
			t.Fatalf("decision for %s = %+v, want %s within 2 s", app, last, code)
		}
	}
}

// TestLinkSession: the access token the link presents becomes its
// session (in the welcome, in decisions); logout ends it at identity and
// on the link (signed_out, decisions say session.none); a refresh with a
// spent token ends it as theft; logout without a session says so.
func TestLinkSession(t *testing.T) {
	c := newSignInCore(t)
	ctx := context.Background()
	sess, tok := c.signIn(t, "alice")
	l, err := c.link(t, tok.Access)
	if err != nil {
		t.Fatalf("link with alice's token = %v", err)
	}
	var w api.WelcomeMsg
	if err := next(t, l, api.TypeWelcome).Decode(&w); err != nil || w.Session == nil || w.Session.User != "alice" {
		t.Fatalf("welcome = %+v, %v; want alice's session", w, err)
	}
	decision(t, l, "grafana", api.CodePolicyAllow)

	// Refresh: new tokens, the session stays.
	if err := c.AgentMessage(ctx, l, mustEnvelope(api.TypeRefresh, api.RefreshMsg{RefreshToken: tok.Refresh})); err != nil {
		t.Fatal(err)
	}
	var fresh api.TokensMsg
	if err := next(t, l, api.TypeTokens).Decode(&fresh); err != nil || fresh.AccessToken == tok.Access || fresh.RefreshToken == tok.Refresh {
		t.Fatalf("TokensMsg = rotated %v, %v; want new tokens", fresh.AccessToken != tok.Access, err)
	}

	// Logout: SignedOutMsg, the session revoked in the store, decisions
	// say sign in.
	if err := c.AgentMessage(ctx, l, mustEnvelope(api.TypeLogout, api.LogoutMsg{})); err != nil {
		t.Fatal(err)
	}
	var so api.SignedOutMsg
	if err := next(t, l, api.TypeSignedOut).Decode(&so); err != nil || so.Code != api.CodeSessionRevoked || !strings.HasSuffix(so.Message, "sign in again: gatehouse login") {
		t.Errorf("after logout: SignedOutMsg %+v, %v; want session.revoked with the fix", so, err)
	}
	if got, err := c.idStore.GetSession(ctx, sess.ID); err != nil || got.RevokedAt.IsZero() || got.RevokeReason != identity.ReasonLogout {
		t.Errorf("session after logout = revoked at %v (%q), %v; want revoked for logout", got.RevokedAt, got.RevokeReason, err)
	}
	decision(t, l, "grafana", api.CodeSignInRequired)

	// Logout again: nothing to end, and the agent hears so.
	if err := c.AgentMessage(ctx, l, mustEnvelope(api.TypeLogout, api.LogoutMsg{})); err != nil {
		t.Fatal(err)
	}
	if err := next(t, l, api.TypeSignedOut).Decode(&so); err != nil || so.Code != api.CodeSignInRequired {
		t.Errorf("logout without a session: SignedOutMsg %+v, %v; want session.none", so, err)
	}

	// The spent refresh token: refused, the agent signed out.
	if err := c.AgentMessage(ctx, l, mustEnvelope(api.TypeRefresh, api.RefreshMsg{RefreshToken: tok.Refresh})); err != nil {
		t.Fatal(err)
	}
	if err := next(t, l, api.TypeSignedOut).Decode(&so); err != nil || so.Code != api.CodeSessionRevoked {
		t.Errorf("refresh with a spent token: SignedOutMsg %+v, %v; want session.revoked", so, err)
	}
}

// TestLinkRefusesAnotherUsersSession: a session of bob's bound to
// alice's device does not make bob's identity ride alice's device: the
// link is refused with a session code and the next step.
func TestLinkRefusesAnotherUsersSession(t *testing.T) {
	c := newSignInCore(t)
	_, tok := c.signIn(t, "bob")
	_, err := c.link(t, tok.Access)
	refused, ok := errors.AsType[*LinkRefusedError](err)
	if !ok || refused.Code != api.CodeSessionRevoked || !strings.Contains(err.Error(), "sign in as alice") {
		t.Fatalf("link with bob's session on alice's device = %v, want a LinkRefusedError (session.revoked) saying to sign in as alice", err)
	}
	if _, err := c.link(t, "gha_not-a-token"); err == nil {
		t.Fatalf("link with a malformed token = nil error, want it refused")
	} else if refused, ok := errors.AsType[*LinkRefusedError](err); !ok || refused.Code != api.CodeSessionExpired {
		t.Errorf("link with a malformed token = %v, want a LinkRefusedError (session.expired)", err)
	}
}

// TestIdentityEventsRedecide: blocking the device, disabling the user and
// approving again each reach the link's decisions at once, with the
// fix in the message. Red: without the core's subscription the
// decisions stay allowed.
func TestIdentityEventsRedecide(t *testing.T) {
	c := newSignInCore(t)
	ctx := context.Background()
	l, err := c.link(t, "") // enrolled, never signed in: acts on its credential
	if err != nil {
		t.Fatal(err)
	}
	decision(t, l, "grafana", api.CodePolicyAllow)
	steps := []struct {
		name string
		do   func() error
		want string
		fix  string
	}{
		{"block the device", func() error { return c.Identity.BlockDevice(ctx, coreAdmin, c.device) }, api.CodeDeviceBlocked, "ask an admin why, and to unblock it (gatehouse admin devices approve " + c.device + ")"},
		{"approve it again", func() error { return c.Identity.ApproveDevice(ctx, coreAdmin, c.device) }, api.CodePolicyAllow, ""},
		{"disable the user", func() error { return c.Identity.DisableUser(ctx, coreAdmin, "alice") }, api.CodeUserDisabled, "ask an admin to enable your account"},
		{"enable the user", func() error { return c.Identity.EnableUser(ctx, coreAdmin, "alice") }, api.CodePolicyAllow, ""},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		d := decision(t, l, "grafana", st.want)
		if st.fix != "" && !strings.HasSuffix(d.Reasons[0].Message, st.fix) {
			t.Errorf("%s: decision message %q, want it to end with %q", st.name, d.Reasons[0].Message, st.fix)
		}
	}
}

// TestPolicySignInNeedsValidated: sign-in ages outside 1 minute … 366
// days are refused and store nothing; MFA and ages imply the needs
// below them.
func TestPolicySignInNeedsValidated(t *testing.T) {
	c := newSignInCore(t)
	ctx := context.Background()
	tests := []struct {
		name    string
		in      api.Policy
		want    api.Policy // the needs stored
		wantErr bool
	}{
		{name: "negative MFA age", in: api.Policy{MFAMaxAge: api.Duration(-time.Hour)}, wantErr: true},
		{name: "MFA age under a minute", in: api.Policy{MFAMaxAge: api.Duration(time.Second)}, wantErr: true},
		{name: "session age over a year", in: api.Policy{SessionMaxAge: api.Duration(400 * 24 * time.Hour)}, wantErr: true},
		{name: "MFA age implies MFA and sign-in", in: api.Policy{MFAMaxAge: api.Duration(12 * time.Hour)},
			want: api.Policy{RequireSignIn: true, RequireMFA: true, MFAMaxAge: api.Duration(12 * time.Hour)}},
		{name: "session age implies sign-in", in: api.Policy{SessionMaxAge: api.Duration(24 * time.Hour)},
			want: api.Policy{RequireSignIn: true, SessionMaxAge: api.Duration(24 * time.Hour)}},
		{name: "MFA implies sign-in", in: api.Policy{RequireMFA: true}, want: api.Policy{RequireSignIn: true, RequireMFA: true}},
		{name: "none", in: api.Policy{}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.in
			p.Name, p.Groups, p.Apps = "p"+string(rune('a'+i)), []string{"eng"}, []string{"grafana"}
			_, _, err := c.Policies.Create(ctx, testOwner, p)
			got, getErr := c.store.GetPolicy(ctx, p.Name)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalid) || !errors.Is(getErr, ErrNotFound) {
					t.Errorf("Policies.Create(%+v) = %v (stored: %v), want ErrInvalid and nothing stored", tt.in, err, getErr)
				}
				return
			}
			if err != nil || getErr != nil {
				t.Fatalf("Policies.Create(%+v) = %v, %v", tt.in, err, getErr)
			}
			if got.RequireSignIn != tt.want.RequireSignIn || got.RequireMFA != tt.want.RequireMFA ||
				got.MFAMaxAge != tt.want.MFAMaxAge || got.SessionMaxAge != tt.want.SessionMaxAge {
				t.Errorf("stored policy = %+v, want sign-in needs of %+v", got, tt.want)
			}
		})
	}
}

// BenchmarkAuthenticateAgent is the controller's cost of a link's
// handshake: the device-key proof, then (with a token) the access
// token's check and the device's identity facts from the store.
func BenchmarkAuthenticateAgent(b *testing.B) {
	for _, withToken := range []bool{false, true} {
		name := "device key only"
		if withToken {
			name = "device key and access token"
		}
		b.Run(name, func(b *testing.B) {
			c := newSignInCore(b)
			var access string
			if withToken {
				_, tok := c.signIn(b, "alice")
				access = tok.Access
			}
			hello, nonce, err := wire.NewHello()
			if err != nil {
				b.Fatal(err)
			}
			auth, err := wire.SignProof(c.key, nil, c.device, hello)
			if err != nil {
				b.Fatal(err)
			}
			auth.AccessToken = access
			ctx := context.Background()
			for b.Loop() {
				if _, err := c.AuthenticateAgent(ctx, auth, nil, nonce); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestSessionMessagesLimited: a link flooding refresh messages (each a
// store write) gets at most the burst of answers and a rate_limited
// error; the link stays up. Red: without the limiter all 30 are answered.
func TestSessionMessagesLimited(t *testing.T) {
	c := newSignInCore(t)
	ctx := context.Background()
	l, err := c.link(t, "")
	if err != nil {
		t.Fatal(err)
	}
	for range 30 {
		if err := c.AgentMessage(ctx, l, mustEnvelope(api.TypeRefresh, api.RefreshMsg{RefreshToken: "ghr_nope"})); err != nil {
			t.Fatal(err)
		}
	}
	signedOut, limited := 0, 0
	for {
		select {
		case env := <-l.Outbox():
			switch env.Type {
			case api.TypeSignedOut:
				signedOut++
			case api.TypeError:
				var e api.ErrorMsg
				if env.Decode(&e) == nil && e.Code == api.CodeRateLimited {
					limited++
				}
			}
			continue
		case <-l.Done():
			t.Fatalf("link closed (%s), want it up", l.Why())
		default:
		}
		break
	}
	if signedOut > 6 || limited == 0 {
		t.Errorf("30 refreshes at once: %d answered, %d rate_limited errors; want at most 6 answered and a rate_limited error", signedOut, limited)
	}
}
