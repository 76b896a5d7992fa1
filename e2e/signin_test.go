package e2e

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
	"github.com/gatehouse-ztna/gatehouse/controller"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
	"github.com/gatehouse-ztna/gatehouse/tunnel"
)

// Identity in every decision, proven with clients that ignore revoke:
// signing in makes a device interactive, its link carries the session,
// and ending the session, blocking the device or disabling the user cuts
// its open flows at the gateway within a second. Sessions are made
// directly through the identity room (CheckPassword → StartSession), as
// the login pages will.

const testPassword = "correct horse battery staple"

// identityAdmin is who ends sessions, blocks devices and disables users.
var identityAdmin = identity.Principal{Kind: identity.PrincipalToken, Name: "e2e", Role: identity.Admin}

// newSignInEnv is New and Standard, with alice's password set; tune
// changes the controller's config (token lifetimes) first.
func newSignInEnv(t *testing.T, tune func(*controller.Config)) *Env {
	t.Helper()
	env := New(t, Options{Controller: func(c *controller.Config) {
		c.Identity.Password = fastPasswords
		if tune != nil {
			tune(c)
		}
	}})
	env.Standard(t)
	Must(t, env.Ctrl.Identity.SetPassword(context.Background(), "alice", testPassword))
	return env
}

// signIn signs user in with the password and opens a session bound to
// device.
func signIn(t *testing.T, env *Env, user, device string) (identity.Session, identity.Tokens) {
	t.Helper()
	ctx := context.Background()
	proof, err := env.Ctrl.Identity.CheckPassword(ctx, identity.Login{User: user, Password: testPassword, Source: netip.MustParseAddr("127.0.0.1")})
	Must(t, err)
	sess, tok, err := env.Ctrl.Identity.StartSession(ctx, proof, device)
	Must(t, err)
	return sess, tok
}

// signedInPeer enrolls a device for alice, signs her in on it and links
// it with the session's access token.
func signedInPeer(t *testing.T, env *Env) (*RawPeer, rawDevice, identity.Session, identity.Tokens) {
	t.Helper()
	h := env.rawHome(t)
	d := enrollRawDeviceAt(t, h, "alice")
	sess, tok := signIn(t, env, "alice", d.ID)
	p := connectRawPeer(t, h, d, tok.Access)
	var w api.WelcomeMsg
	Must(t, p.Messages(api.TypeWelcome)[0].Decode(&w))
	if w.Session == nil || w.Session.User != "alice" || !slices.Equal(w.Session.Methods, []string{"pwd"}) || w.Session.ExpiresIn <= 0 {
		t.Fatalf("WelcomeMsg.Session = %+v, want alice's password session with time left", w.Session)
	}
	return p, d, sess, tok
}

// request asks for a tunnel to app under a fresh key and returns the
// answer (grant or deny).
func (p *RawPeer) request(app string) api.Envelope {
	p.t.Helper()
	key, err := tunnel.NewPrivateKey()
	Must(p.t, err)
	pub := key.Public().String()
	p.send(api.TypeGrantRequest, api.GrantRequest{App: app, PublicKey: pub})
	return p.await(5*time.Second, "answer for "+app, func(m api.Envelope) bool {
		var answer struct {
			PublicKey string `json:"public_key"`
		}
		return (m.Type == api.TypeGrant || m.Type == api.TypeDeny) && json.Unmarshal(m.Data, &answer) == nil && answer.PublicKey == pub
	})
}

// denial decodes a deny and checks its one reason's code and words.
func denial(t *testing.T, env api.Envelope, code string, words ...string) api.Reason {
	t.Helper()
	if env.Type != api.TypeDeny {
		t.Fatalf("answer = %s %s, want a deny with %s", env.Type, env.Data, code)
	}
	var d api.Denial
	Must(t, env.Decode(&d))
	if len(d.Reasons) != 1 || d.Reasons[0].Code != code {
		t.Fatalf("deny reasons = %+v, want one with code %s", d.Reasons, code)
	}
	for _, w := range words {
		if !strings.Contains(d.Reasons[0].Message, w) {
			t.Errorf("deny message %q, want it to say %q", d.Reasons[0].Message, w)
		}
	}
	return d.Reasons[0]
}

// signedOut waits for the link's SignedOutMsg and checks its code.
func (p *RawPeer) signedOut(code string) api.SignedOutMsg {
	p.t.Helper()
	var so api.SignedOutMsg
	Must(p.t, p.await(time.Second, "signed_out", func(m api.Envelope) bool { return m.Type == api.TypeSignedOut }).Decode(&so))
	if so.Code != code || !strings.HasSuffix(so.Message, "sign in again: gatehouse login") {
		p.t.Errorf("SignedOutMsg = %+v, want code %s and the fix at the end", so, code)
	}
	return so
}

// TestIdentityCutsUncooperativeClient: a signed-in client holding an open
// stream through the gateway, ignoring every revoke, is cut by the
// gateway within 1 s when its session is revoked, its device blocked,
// its user disabled, or it logs out. Each case runs a few rounds; p50 and max are logged.
// Red: without the core's subscription to identity's events
// (Controller.watchIdentity acting on nothing) no case is cut.
func TestIdentityCutsUncooperativeClient(t *testing.T) {
	const rounds = 3
	tests := []struct {
		name string
		cut  func(ctx context.Context, env *Env, p *RawPeer, sess identity.Session, d rawDevice) error
	}{
		{name: "session revoked", cut: func(ctx context.Context, env *Env, _ *RawPeer, sess identity.Session, _ rawDevice) error {
			return env.Ctrl.Identity.RevokeSession(ctx, identityAdmin, sess.ID)
		}},
		{name: "device blocked", cut: func(ctx context.Context, env *Env, _ *RawPeer, _ identity.Session, d rawDevice) error {
			return env.Ctrl.Identity.BlockDevice(ctx, identityAdmin, d.ID)
		}},
		{name: "user disabled", cut: func(ctx context.Context, env *Env, _ *RawPeer, _ identity.Session, _ rawDevice) error {
			return env.Ctrl.Identity.DisableUser(ctx, identityAdmin, "alice")
		}},
		// The client's own logout, as `gatehouse logout` sends it.
		{name: "logout on the link", cut: func(_ context.Context, _ *Env, p *RawPeer, _ identity.Session, _ rawDevice) error {
			p.send(api.TypeLogout, api.LogoutMsg{})
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var took []time.Duration
			for round := range rounds {
				t.Run(fmt.Sprint(round), func(t *testing.T) {
					env := newSignInEnv(t, nil)
					p, d, sess, _ := signedInPeer(t, env)
					g := p.Grant("grafana")
					s := g.OpenStream(g.Port())
					start := time.Now()
					Must(t, tt.cut(context.Background(), env, p, sess, d))
					g.AssertGatewayCut(s, time.Second)
					s.mu.Lock()
					took = append(took, s.endedAt.Sub(start))
					s.mu.Unlock()
					p.signedOut(api.CodeSessionRevoked)
					if !p.Revoked() {
						t.Errorf("RawPeer.Revoked() = false, want the controller's revoke received (and ignored)")
					}
				})
			}
			if len(took) > 0 {
				slices.Sort(took)
				t.Logf("%s → flow reset by the gateway: p50 %v, max %v over %d rounds", tt.name,
					took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond), len(took))
				if took[len(took)-1] > time.Second {
					t.Errorf("%s: slowest cut %v, want ≤ 1 s", tt.name, took[len(took)-1])
				}
			}
		})
	}
}

// TestSessionLapseCutsUncooperativeClient: a link whose access token runs
// out unrefreshed loses its session (session.expired) and the gateway
// cuts the flow; a link that refreshes keeps its tunnel past the first
// token's end, and the old refresh token, presented again, ends the
// session. Red: without the lapse timer the first flow outlives its
// token.
func TestSessionLapseCutsUncooperativeClient(t *testing.T) {
	const access = 3 * time.Second
	env := newSignInEnv(t, func(c *controller.Config) { c.Identity.AccessTTL = access })

	// Unrefreshed: cut at the token's end.
	p, _, _, tok := signedInPeer(t, env)
	g := p.Grant("grafana")
	s := g.OpenStream(g.Port())
	left := time.Until(tok.AccessExpiresAt)
	g.AssertGatewayCut(s, left+time.Second)
	p.signedOut(api.CodeSessionExpired)

	// Refreshed: the tunnel outlives the first token.
	p2, _, _, tok2 := signedInPeer(t, env)
	g2 := p2.Grant("grafana")
	s2 := g2.OpenStream(g2.Port())
	time.Sleep(time.Until(tok2.AccessExpiresAt.Add(-access / 2))) // refreshed halfway, its new token outlives the old by half
	p2.send(api.TypeRefresh, api.RefreshMsg{RefreshToken: tok2.Refresh})
	var fresh api.TokensMsg
	Must(t, p2.await(2*time.Second, "tokens", func(m api.Envelope) bool { return m.Type == api.TypeTokens }).Decode(&fresh))
	if fresh.AccessToken == tok2.Access || fresh.RefreshToken == tok2.Refresh || fresh.ExpiresIn <= 0 {
		t.Fatalf("TokensMsg = new tokens %v, expires in %d s; want both rotated", fresh.AccessToken != tok2.Access, fresh.ExpiresIn)
	}
	time.Sleep(time.Until(tok2.AccessExpiresAt) + 500*time.Millisecond)
	if n := s2.Received(); n == 0 || p2.Revoked() {
		t.Fatalf("refreshed link's stream: %d bytes, revoked %v (%v); want it still flowing past the first token's end", n, p2.Revoked(), p2.Messages(api.TypeRevoke))
	}
	live := s2.Received()
	Eventually(t, time.Second, func() error {
		if s2.Received() <= live {
			return fmt.Errorf("refreshed link's stream stalled at %d bytes", live)
		}
		return nil
	})

	// The spent refresh token again: theft detected, session ended, cut.
	p2.send(api.TypeRefresh, api.RefreshMsg{RefreshToken: tok2.Refresh})
	g2.AssertGatewayCut(s2, time.Second)
	p2.signedOut(api.CodeSessionRevoked)
}

// TestSignInRefusals: each way a session or a device is not good enough
// is refused with a clear error — on the link for a bad token, in the
// grant's denial for the device or the user — and nothing is granted.
func TestSignInRefusals(t *testing.T) {
	ctx := context.Background()

	t.Run("token presented by a second device key", func(t *testing.T) {
		env := newSignInEnv(t, nil)
		h := env.rawHome(t)
		d1, d2 := enrollRawDeviceAt(t, h, "alice"), enrollRawDeviceAt(t, h, "alice")
		_, tok := signIn(t, env, "alice", d1.ID)
		e := refusedLink(t, env, d2, tok.Access)
		if e.Code != api.CodeSessionRevoked || !strings.Contains(e.Message, "another device") {
			t.Errorf("link refusal = %+v, want session.revoked naming another device", e)
		}
		// The stolen token's session is over for its own device too.
		if _, err := env.Ctrl.Identity.Authenticate(ctx, tok.Access, d1.ID); err == nil || !strings.Contains(err.Error(), "revoked") {
			t.Errorf("Authenticate(the token, its own device) after theft = %v, want its session revoked", err)
		}
		if e := refusedLink(t, env, d1, tok.Access); e.Code != api.CodeSessionRevoked {
			t.Errorf("link of the token's own device after theft refused with %+v, want session.revoked", e)
		}
	})

	t.Run("expired access token", func(t *testing.T) {
		env := newSignInEnv(t, func(c *controller.Config) { c.Identity.AccessTTL = time.Second })
		h := env.rawHome(t)
		d := enrollRawDeviceAt(t, h, "alice")
		_, tok := signIn(t, env, "alice", d.ID)
		time.Sleep(time.Until(tok.AccessExpiresAt) + 50*time.Millisecond)
		if e := refusedLink(t, env, d, tok.Access); e.Code != api.CodeSessionExpired || !strings.Contains(e.Message, "refresh it") {
			t.Errorf("link refusal = %+v, want session.expired saying to refresh", e)
		}
		// Linked without it, the interactive device gets nothing until
		// it refreshes: then the refreshed session counts.
		p := connectRawPeer(t, h, d, "")
		denial(t, p.request("grafana"), api.CodeSignInRequired, "sign in again: gatehouse login")
		p.send(api.TypeRefresh, api.RefreshMsg{RefreshToken: tok.Refresh})
		p.await(2*time.Second, "tokens", func(m api.Envelope) bool { return m.Type == api.TypeTokens })
		if env := p.request("grafana"); env.Type != api.TypeGrant {
			t.Errorf("grant request after a refresh on the link = %s %s, want a grant", env.Type, env.Data)
		}
	})

	t.Run("revoked session", func(t *testing.T) {
		env := newSignInEnv(t, nil)
		d := enrollRawDeviceAt(t, env.rawHome(t), "alice")
		sess, tok := signIn(t, env, "alice", d.ID)
		Must(t, env.Ctrl.Identity.RevokeSession(ctx, identityAdmin, sess.ID))
		if e := refusedLink(t, env, d, tok.Access); e.Code != api.CodeSessionRevoked || !strings.Contains(e.Message, "sign in again: gatehouse login") {
			t.Errorf("link refusal = %+v, want session.revoked with the fix", e)
		}
	})

	t.Run("pending device", func(t *testing.T) {
		env := newSignInEnv(t, nil)
		Must(t, env.Ctrl.Identity.SetNewDevicesNeedApproval(ctx, identityAdmin, true))
		p, d, _, _ := signedInPeer(t, env)
		denial(t, p.request("grafana"), api.CodeDevicePending, "ask an admin to approve it (gatehouse admin devices approve "+d.ID+")")
		// Approval reaches the link at once.
		Must(t, env.Ctrl.Identity.ApproveDevice(ctx, identityAdmin, d.ID))
		Eventually(t, time.Second, func() error {
			if env := p.request("grafana"); env.Type != api.TypeGrant {
				return fmt.Errorf("grant request after approval = %s %s, want a grant", env.Type, env.Data)
			}
			return nil
		})
	})

	t.Run("disabled user", func(t *testing.T) {
		env := newSignInEnv(t, nil)
		h := env.rawHome(t)
		d := enrollRawDeviceAt(t, h, "alice")
		_, tok := signIn(t, env, "alice", d.ID)
		enrolled := env.RawPeer(t, "alice") // a server's device, never signed in on
		Must(t, env.Ctrl.Identity.DisableUser(ctx, identityAdmin, "alice"))
		if e := refusedLink(t, env, d, tok.Access); e.Code != api.CodeSessionRevoked || !strings.Contains(e.Message, "user_disabled") {
			t.Errorf("link refusal = %+v, want session.revoked (user_disabled)", e)
		}
		denial(t, enrolled.request("grafana"), api.CodeUserDisabled, `user "alice" is disabled`, "ask an admin to enable your account")
		Must(t, env.Ctrl.Identity.EnableUser(ctx, identityAdmin, "alice"))
		Eventually(t, time.Second, func() error {
			if env := enrolled.request("grafana"); env.Type != api.TypeGrant {
				return fmt.Errorf("grant request after enabling = %s %s, want a grant", env.Type, env.Data)
			}
			return nil
		})
	})

	t.Run("blocked device", func(t *testing.T) {
		env := newSignInEnv(t, nil)
		p := env.RawPeer(t, "alice")
		Must(t, env.Ctrl.Identity.BlockDevice(ctx, identityAdmin, p.DeviceID()))
		denial(t, p.request("grafana"), api.CodeDeviceBlocked, "ask an admin why")
	})

	t.Run("interactive device linked without its token", func(t *testing.T) {
		env := newSignInEnv(t, nil)
		h := env.rawHome(t)
		d := enrollRawDeviceAt(t, h, "alice")
		signIn(t, env, "alice", d.ID)
		p := connectRawPeer(t, h, d, "")
		denial(t, p.request("grafana"), api.CodeSignInRequired, "sign in again: gatehouse login")
	})

	t.Run("policy needs MFA, session has a password only", func(t *testing.T) {
		env := newSignInEnv(t, nil)
		Must(t, env.Admin.Delete(ctx, api.PathPolicies, "eng-grafana"))
		p, _, _, _ := signedInPeer(t, env)
		mfa := api.Policy{Name: "eng-grafana-mfa", Groups: []string{"eng"}, Apps: []string{"grafana"}, MFAMaxAge: api.Duration(12 * time.Hour)}
		Must(t, adminclient.Create(ctx, env.Admin, api.PathPolicies, &mfa))
		denial(t, p.request("grafana"), api.CodeMFARequired, "sign in again: gatehouse login")
	})
}

// refusedLink links d presenting access and returns the controller's
// refusal; a welcome fails the test.
func refusedLink(t *testing.T, env *Env, d rawDevice, access string) api.ErrorMsg {
	t.Helper()
	c := dialRawAt(t, env.controllerAt(t))
	c.send(wireFrame(t, api.TypeAuth, api.AuthMsg{DeviceID: d.ID,
		Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(d.Key, c.proof(d))), AccessToken: access}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		_, data, err := c.conn.Read(ctx)
		if err != nil {
			t.Fatalf("link with a refused token ended without an error message: %v", err)
		}
		var env api.Envelope
		Must(t, json.Unmarshal(data, &env))
		switch env.Type {
		case api.TypeWelcome:
			t.Fatalf("link with a refused token was welcomed: %s", env.Data)
		case api.TypeError:
			var e api.ErrorMsg
			Must(t, env.Decode(&e))
			if strings.Contains(e.Message, "gha_") {
				t.Errorf("refusal %q quotes a token", e.Message)
			}
			return e
		}
	}
}

// TestAdminCLIPolicySignInFlags: `gatehouse admin policies create` takes
// the sign-in needs, lists them, and refuses an age out of bounds with
// the fix, storing nothing.
func TestAdminCLIPolicySignInFlags(t *testing.T) {
	env := New(t, Options{})
	env.Standard(t)
	env.admin(t, false, "policies", "create", "eng-wiki", "--groups", "eng", "--apps", "wiki",
		"--require-mfa", "--mfa-max-age", "12h", "--session-max-age", "24h")
	env.admin(t, false, "policies", "create", "eng-wiki-signed", "--groups", "eng", "--apps", "wiki", "--require-signin")
	out := env.admin(t, true, "policies", "create", "bad", "--groups", "eng", "--apps", "wiki", "--mfa-max-age", "-1h")
	if !strings.Contains(out, "--mfa-max-age -1h0m0s") || !strings.Contains(out, "e.g. --mfa-max-age 12h") {
		t.Errorf("policies create --mfa-max-age -1h = %q, want the flag named and an example", out)
	}
	list := env.admin(t, false, "policies", "list")
	for _, want := range []string{"SIGN-IN", "mfa<=12h0m0s,session<=24h0m0s", "eng-wiki-signed"} {
		if !strings.Contains(list, want) {
			t.Errorf("gatehouse admin policies list = %q, want %q in it", list, want)
		}
	}
	if strings.Contains(list, "bad") {
		t.Errorf("gatehouse admin policies list = %q, want no policy from the refused create", list)
	}
	p, err := adminclient.Get[api.Policy](context.Background(), env.Admin, api.PathPolicies, "eng-wiki")
	Must(t, err)
	if !p.RequireSignIn || !p.RequireMFA || p.MFAMaxAge != api.Duration(12*time.Hour) || p.SessionMaxAge != api.Duration(24*time.Hour) {
		t.Errorf("GET policy eng-wiki = %+v, want sign-in, MFA, 12h and 24h", p)
	}
}
