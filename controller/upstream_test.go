package controller

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/controller/identity"
	"github.com/gatehouse-ztna/gatehouse/controller/identity/oidc"
	"github.com/gatehouse-ztna/gatehouse/controller/policy"
	"github.com/gatehouse-ztna/gatehouse/internal/testidp"
)

// TestUpstreamGroupsReachThePolicy: a user signed in through a real IdP
// is made, with the mapped groups, as a committed change: the policy
// snapshot has them at once; the IdP moving the user changes them at the
// next session refresh.
func TestUpstreamGroupsReachThePolicy(t *testing.T) {
	const redirect = "https://gatehouse.test/oidc/callback"
	idp := testidp.New(t, testidp.Options{})
	idp.AddClient("gatehouse", "s3cret", redirect)
	idp.AddUser(testidp.User{Subject: "u-alice", Username: "alice", Password: "pw", Email: "alice@example.com",
		EmailVerified: true, Groups: []string{"eng"}})
	p, err := oidc.New(oidc.Config{Issuer: idp.Issuer, ClientID: "gatehouse", ClientSecret: "s3cret", RedirectURL: redirect,
		GroupMap: map[string]string{"eng": "engineers", "ops": "operators"}, HTTPClient: idp.HTTPClient()}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(context.Background(), Config{DataDir: t.TempDir(), Identity: identity.Config{Upstreams: []*oidc.Provider{p}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := t.Context()

	st, err := p.Begin(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	back, err := idp.Login(ctx, st.URL, "alice", "pw")
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.Callback(ctx, back.Query().Get("state"), back.Query().Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	proof, err := c.Identity.SignInUpstream(ctx, v, netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatalf("SignInUpstream = %v", err)
	}
	_, tok, err := c.Identity.StartSession(ctx, proof, "browser-1")
	if err != nil {
		t.Fatal(err)
	}
	groups := func() string {
		c.mu.Lock()
		defer c.mu.Unlock()
		return fmt.Sprint(c.snap.Identity("alice@example.com").Groups)
	}
	if g := groups(); g != "[engineers]" {
		t.Errorf("policy snapshot groups after the first sign-in = %s, want [engineers]", g)
	}

	idp.SetGroups("u-alice", "ops")
	if _, _, err := c.Identity.Refresh(ctx, tok.Refresh, "browser-1"); err != nil {
		t.Fatalf("Refresh = %v", err)
	}
	if g := groups(); g != "[operators]" {
		t.Errorf("policy snapshot groups after the IdP moved alice = %s, want [operators]", g)
	}
}

// TestUpstreamClaimsReachThePolicy: the IdP's claims are in the policy
// snapshot after a sign-in; signing in again with the same claims does not
// rebuild the policy (protocol claims, which change at every sign-in, are
// not kept); a changed claim arrives at the next session refresh.
func TestUpstreamClaimsReachThePolicy(t *testing.T) {
	const redirect = "https://gatehouse.test/oidc/callback"
	idp := testidp.New(t, testidp.Options{})
	idp.AddClient("gatehouse", "s3cret", redirect)
	idp.AddUser(testidp.User{Subject: "u-alice", Username: "alice", Password: "pw", Email: "alice@example.com",
		EmailVerified: true, Claims: map[string]any{"department": "sre"}})
	p, err := oidc.New(oidc.Config{Issuer: idp.Issuer, ClientID: "gatehouse", ClientSecret: "s3cret", RedirectURL: redirect,
		HTTPClient: idp.HTTPClient()}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(context.Background(), Config{DataDir: t.TempDir(), Identity: identity.Config{Upstreams: []*oidc.Provider{p}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := t.Context()
	signIn := func() identity.Tokens {
		t.Helper()
		st, err := p.Begin(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		back, err := idp.Login(ctx, st.URL, "alice", "pw")
		if err != nil {
			t.Fatal(err)
		}
		v, err := p.Callback(ctx, back.Query().Get("state"), back.Query().Get("code"))
		if err != nil {
			t.Fatal(err)
		}
		proof, err := c.Identity.SignInUpstream(ctx, v, netip.MustParseAddr("127.0.0.1"))
		if err != nil {
			t.Fatalf("SignInUpstream = %v", err)
		}
		_, tok, err := c.Identity.StartSession(ctx, proof, "browser-1")
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	snap := func() (*policy.Snapshot, string) {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.snap, c.snap.Identity("alice@example.com").Claims["department"]
	}
	signIn()
	first, dep := snap()
	if dep != "sre" {
		t.Errorf("policy snapshot department after the first sign-in = %q, want sre", dep)
	}
	tok := signIn()
	if again, _ := snap(); again != first {
		t.Errorf("a second sign-in with the same claims rebuilt the policy snapshot; want it kept")
	}
	idp.SetClaims("u-alice", map[string]any{"department": "sales"})
	if _, _, err := c.Identity.Refresh(ctx, tok.Refresh, "browser-1"); err != nil {
		t.Fatalf("Refresh = %v", err)
	}
	if _, dep := snap(); dep != "sales" {
		t.Errorf("policy snapshot department after the IdP moved alice = %q, want sales", dep)
	}
}
