package oidc_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/controller/identity/oidc"
	"github.com/gatehouse-ztna/gatehouse/internal/testidp"
)

const redirect = "https://gatehouse.test/oidc/callback"

// fakeClock is a settable Clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t.IsZero() {
		return time.Now()
	}
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// setup starts an IdP with alice (in IdP groups eng and staff) and a
// Provider for it mapping eng → engineers.
func setup(t testing.TB, opts testidp.Options, edit func(*oidc.Config)) (*testidp.IdP, *oidc.Provider, *fakeClock) {
	t.Helper()
	idp := testidp.New(t, opts)
	idp.AddClient("gatehouse", "s3cret", redirect)
	idp.AddUser(testidp.User{Subject: "u-alice", Username: "alice", Password: "pw-alice", Email: "Alice@Example.com",
		EmailVerified: true, Name: "Alice Liddell", Groups: []string{"eng", "staff"}})
	cfg := oidc.Config{Name: "Test IdP", Issuer: idp.Issuer, ClientID: "gatehouse", ClientSecret: "s3cret",
		RedirectURL: redirect, GroupMap: map[string]string{"eng": "engineers", "ops": "operators"},
		HTTPClient: idp.HTTPClient()}
	if edit != nil {
		edit(&cfg)
	}
	clock := &fakeClock{}
	p, err := oidc.New(cfg, clock, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Discover(context.Background()); err != nil {
		t.Fatal(err)
	}
	return idp, p, clock
}

// signIn begins a sign-in, signs user in at the IdP, and returns the
// callback's state and code.
func signIn(t testing.TB, idp *testidp.IdP, p *oidc.Provider, user, password string) (state, code string) {
	t.Helper()
	ctx := context.Background()
	st, err := p.Begin(ctx, "/device/confirm?code=ABCD-EFGH")
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	back, err := idp.Login(ctx, st.URL, user, password)
	if err != nil {
		t.Fatalf("IdP login: %v", err)
	}
	if got := back.Scheme + "://" + back.Host + back.Path; got != redirect {
		t.Fatalf("IdP sent the browser to %s, want %s", got, redirect)
	}
	if back.Query().Get("state") != st.State {
		t.Fatalf("callback state = %q, want %q", back.Query().Get("state"), st.State)
	}
	return back.Query().Get("state"), back.Query().Get("code")
}

func TestSignInEndToEnd(t *testing.T) {
	idp, p, _ := setup(t, testidp.Options{}, nil)
	st, err := p.Begin(context.Background(), "next")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(st.URL)
	q := u.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" {
		t.Errorf("auth URL %s: want state, nonce and an S256 PKCE challenge", st.URL)
	}
	state, code := signIn(t, idp, p, "alice", "pw-alice")
	v, err := p.Callback(context.Background(), state, code)
	if err != nil {
		t.Fatalf("Callback: %v", err)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"Issuer", v.Issuer(), idp.Issuer},
		{"Subject", v.Subject(), "u-alice"},
		{"Email", v.Email(), "alice@example.com"},
		{"EmailVerified", v.EmailVerified(), true},
		{"Name", v.Name(), "Alice Liddell"},
		{"UserName", v.UserName(), "alice@example.com"},
		{"Groups", fmt.Sprint(v.Groups()), "[engineers]"}, // staff is not mapped
		{"ManagedGroups", fmt.Sprint(v.ManagedGroups()), "[engineers operators]"},
		{"AMR", fmt.Sprint(v.AMR()), "[pwd]"},
		{"Next", v.Next(), "/device/confirm?code=ABCD-EFGH"},
		{"has refresh token", v.RefreshToken() != "", true},
		{"auth time recent", time.Since(v.AuthTime()) < time.Minute, true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("Callback: %s = %v, want %v", c.what, c.got, c.want)
		}
	}
}

func TestClaimsFromUserinfo(t *testing.T) {
	idp, p, _ := setup(t, testidp.Options{NoClaimsInIDToken: true}, func(c *oidc.Config) { c.PassThroughGroups = true })
	state, code := signIn(t, idp, p, "alice", "pw-alice")
	v, err := p.Callback(context.Background(), state, code)
	if err != nil {
		t.Fatalf("Callback: %v", err)
	}
	if v.Email() != "alice@example.com" || fmt.Sprint(v.Groups()) != "[engineers staff]" {
		t.Errorf("Callback from userinfo: email %q groups %v, want alice@example.com [engineers staff]", v.Email(), v.Groups())
	}
}

func TestEmailChecks(t *testing.T) {
	tests := []struct {
		name     string
		domains  []string
		verified bool
		claim    string
		wantErr  error
	}{
		{name: "allowed domain", domains: []string{"example.com"}, verified: true},
		{name: "domain not allowed", domains: []string{"corp.example"}, verified: true, wantErr: oidc.ErrDomainNotAllowed},
		{name: "unverified email with a domain check", domains: []string{"example.com"}, wantErr: oidc.ErrEmailNotVerified},
		{name: "unverified email naming the user", wantErr: oidc.ErrEmailNotVerified},
		{name: "unverified email, named by preferred_username", claim: "preferred_username"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idp, p, _ := setup(t, testidp.Options{}, func(c *oidc.Config) {
				c.AllowedEmailDomains, c.UsernameClaim = tt.domains, tt.claim
			})
			idp.AddUser(testidp.User{Subject: "u-bob", Username: "bob", Password: "pw-bob", Email: "bob@example.com", EmailVerified: tt.verified})
			state, code := signIn(t, idp, p, "bob", "pw-bob")
			v, err := p.Callback(context.Background(), state, code)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Callback = %v, want %v", err, tt.wantErr)
			}
			if tt.claim == "preferred_username" && v.UserName() != "bob" {
				t.Errorf("UserName = %q, want bob", v.UserName())
			}
		})
	}
}

func TestStateRefused(t *testing.T) {
	idp, p, clock := setup(t, testidp.Options{}, nil)
	ctx := context.Background()

	state, code := signIn(t, idp, p, "alice", "pw-alice")
	if _, err := p.Callback(ctx, "not-"+state, code); !errors.Is(err, oidc.ErrBadState) {
		t.Errorf("Callback(unknown state) = %v, want ErrBadState", err)
	}
	if _, err := p.Callback(ctx, state, code); err != nil {
		t.Fatalf("Callback: %v", err)
	}
	if _, err := p.Callback(ctx, state, code); !errors.Is(err, oidc.ErrBadState) {
		t.Errorf("Callback replayed = %v, want ErrBadState", err)
	}

	state, code = signIn(t, idp, p, "alice", "pw-alice")
	clock.Set(time.Now().Add(oidc.PendingTTL + time.Second))
	if _, err := p.Callback(ctx, state, code); !errors.Is(err, oidc.ErrBadState) {
		t.Errorf("Callback after %v = %v, want ErrBadState", oidc.PendingTTL, err)
	}
	clock.Set(time.Time{})

	// A code from another sign-in of the same IdP does not finish this
	// one: PKCE binds the code to the verifier of the sign-in that asked.
	s1, err := p.Begin(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	_, code2 := signIn(t, idp, p, "alice", "pw-alice")
	if _, err := p.Callback(ctx, s1.State, code2); !errors.Is(err, oidc.ErrRefused) {
		t.Errorf("Callback(state of one sign-in, code of another) = %v, want ErrRefused", err)
	}
}

// TestForgedTokensRefused: the token endpoint's ID token is replaced by
// one for another audience, from another issuer, with another nonce, or
// expired; each is refused.
func TestForgedTokensRefused(t *testing.T) {
	idp, p, _ := setup(t, testidp.Options{}, nil)
	other := testidp.New(t, testidp.Options{})
	tests := []struct {
		name string
		by   *testidp.IdP
		edit func(map[string]any)
	}{
		{"another audience", idp, func(c map[string]any) { c["aud"] = []string{"another-client"}; c["azp"] = "another-client" }},
		{"another issuer", other, func(c map[string]any) { c["iss"] = other.Issuer }},
		{"issuer claimed, signed by another", other, func(map[string]any) {}},
		{"another nonce", idp, func(c map[string]any) { c["nonce"] = "attacker-nonce" }},
		{"expired", idp, func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hookErr error
			idp.OnTokenResponse(func(m map[string]any) {
				raw, _ := m["id_token"].(string)
				m["id_token"], hookErr = tt.by.ResignIDToken(raw, tt.edit)
			})
			defer idp.OnTokenResponse(nil)
			state, code := signIn(t, idp, p, "alice", "pw-alice")
			v, err := p.Callback(context.Background(), state, code)
			if hookErr != nil {
				t.Fatal(hookErr)
			}
			if !errors.Is(err, oidc.ErrRefused) {
				t.Errorf("Callback with an ID token of %s = %v, %v; want ErrRefused", tt.name, v, err)
			}
		})
	}
}

func TestRefresh(t *testing.T) {
	idp, p, _ := setup(t, testidp.Options{}, nil)
	ctx := context.Background()
	state, code := signIn(t, idp, p, "alice", "pw-alice")
	v, err := p.Callback(ctx, state, code)
	if err != nil {
		t.Fatal(err)
	}
	idp.SetGroups("u-alice", "ops", "staff")
	r, err := p.Refresh(ctx, v.RefreshToken(), "u-alice")
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if fmt.Sprint(r.Groups()) != "[operators]" || r.RefreshToken() == v.RefreshToken() || r.RefreshToken() == "" {
		t.Errorf("Refresh: groups %v (want [operators]), rotated refresh token: %v", r.Groups(), r.RefreshToken() != v.RefreshToken())
	}
	if _, err := p.Refresh(ctx, v.RefreshToken(), "u-alice"); !errors.Is(err, oidc.ErrRefused) {
		t.Errorf("Refresh with the rotated-away token = %v, want ErrRefused", err)
	}
	if _, err := p.Refresh(ctx, r.RefreshToken(), "u-bob"); !errors.Is(err, oidc.ErrRefused) {
		t.Errorf("Refresh for another subject = %v, want ErrRefused", err)
	}
	state, code = signIn(t, idp, p, "alice", "pw-alice")
	v, err = p.Callback(ctx, state, code)
	if err != nil {
		t.Fatal(err)
	}
	idp.Disable("u-alice")
	if _, err := p.Refresh(ctx, v.RefreshToken(), "u-alice"); !errors.Is(err, oidc.ErrRefused) {
		t.Errorf("Refresh of a user disabled at the IdP = %v, want ErrRefused", err)
	}
}

// TestUnavailable: an issuer that does not answer leaves the provider
// unavailable with a clear status; it is asked again later.
func TestUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	clock := &fakeClock{}
	clock.Set(time.Now())
	transport := &swappable{}
	transport.to.Store(http.DefaultTransport)
	p, err := oidc.New(oidc.Config{Issuer: "https://" + addr, ClientID: "gatehouse", RedirectURL: redirect,
		HTTPClient: &http.Client{Transport: transport, Timeout: 2 * time.Second}}, clock, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Discover(context.Background()); !errors.Is(err, oidc.ErrUnavailable) {
		t.Fatalf("Discover = %v, want ErrUnavailable", err)
	}
	st := p.Status()
	if st.Available || st.Problem == "" {
		t.Errorf("Status = %+v, want unavailable with the problem", st)
	}
	if _, err := p.Begin(context.Background(), ""); !errors.Is(err, oidc.ErrUnavailable) {
		t.Errorf("Begin = %v, want ErrUnavailable", err)
	}

	// The IdP comes up there: it is asked again only once 30 s passed.
	idp := testidp.New(t, testidp.Options{Addr: addr})
	idp.AddClient("gatehouse", "", redirect)
	transport.to.Store(idp.HTTPClient().Transport)
	if _, err := p.Begin(context.Background(), ""); !errors.Is(err, oidc.ErrUnavailable) {
		t.Errorf("Begin within 30 s of the failed discovery = %v, want ErrUnavailable (not asked again yet)", err)
	}
	clock.Set(clock.Now().Add(31 * time.Second))
	if _, err := p.Begin(context.Background(), ""); err != nil {
		t.Errorf("Begin after the IdP came up = %v, want a sign-in", err)
	}
	if st := p.Status(); !st.Available {
		t.Errorf("Status after the IdP came up = %+v, want available", st)
	}
}

// swappable is a RoundTripper whose destination a test replaces.
type swappable struct{ to atomic.Value }

func (s *swappable) RoundTrip(r *http.Request) (*http.Response, error) {
	return s.to.Load().(http.RoundTripper).RoundTrip(r)
}

func TestConfigRefused(t *testing.T) {
	tests := []oidc.Config{
		{},
		{Issuer: "http://idp.example.com", ClientID: "c", RedirectURL: redirect},
		{Issuer: "https://idp.example.com", RedirectURL: redirect},
		{Issuer: "https://idp.example.com", ClientID: "c"},
		{Issuer: "https://idp.example.com", ClientID: "c", RedirectURL: "/relative"},
	}
	for _, cfg := range tests {
		if _, err := oidc.New(cfg, &fakeClock{}, nil); err == nil {
			t.Errorf("New(%+v) = nil error, want one", cfg)
		}
	}
}

func TestPendingBounded(t *testing.T) {
	_, p, _ := setup(t, testidp.Options{}, nil)
	ctx := context.Background()
	first, err := p.Begin(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for range oidc.MaxPending {
		st, err := p.Begin(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		states = append(states, st.State)
	}
	if _, err := p.Callback(ctx, first.State, "x"); !errors.Is(err, oidc.ErrBadState) {
		t.Errorf("Callback of the oldest sign-in after %d more = %v, want ErrBadState (dropped)", oidc.MaxPending, err)
	}
	if slices.Contains(states, first.State) {
		t.Fatal("state repeated")
	}
}

// BenchmarkSignIn: Begin, the IdP's login form, Callback (code exchange,
// ID token verification, userinfo not needed) against the in-process IdP.
func BenchmarkSignIn(b *testing.B) {
	idp, p, _ := setup(b, testidp.Options{}, nil)
	for b.Loop() {
		state, code := signIn(b, idp, p, "alice", "pw-alice")
		if _, err := p.Callback(context.Background(), state, code); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRefresh: one upstream refresh (token grant, ID token
// verification, group mapping), what each OIDC session refresh adds.
func BenchmarkRefresh(b *testing.B) {
	idp, p, _ := setup(b, testidp.Options{}, nil)
	state, code := signIn(b, idp, p, "alice", "pw-alice")
	v, err := p.Callback(context.Background(), state, code)
	if err != nil {
		b.Fatal(err)
	}
	rt := v.RefreshToken()
	for b.Loop() {
		r, err := p.Refresh(context.Background(), rt, "u-alice")
		if err != nil {
			b.Fatal(err)
		}
		rt = r.RefreshToken()
	}
}

// TestClaimsKept: the IdP's claims reach Verified.Claims, bounded, without
// protocol claims, with the checked identity claims — from the ID token
// at sign-in and from userinfo at a refresh (where they follow the IdP).
func TestClaimsKept(t *testing.T) {
	for _, opts := range []testidp.Options{{}, {NoClaimsInIDToken: true}} {
		t.Run(fmt.Sprintf("NoClaimsInIDToken=%v", opts.NoClaimsInIDToken), func(t *testing.T) {
			idp, p, _ := setup(t, opts, nil)
			idp.SetClaims("u-alice", map[string]any{"department": "sre", "level": 3, "roles": []string{"a"}})
			state, code := signIn(t, idp, p, "alice", "pw-alice")
			v, err := p.Callback(context.Background(), state, code)
			if err != nil {
				t.Fatalf("Callback: %v", err)
			}
			c := v.Claims()
			want := map[string]string{"iss": idp.Issuer, "sub": "u-alice", "email": "alice@example.com", "email_verified": "true",
				"name": "Alice Liddell", "department": "sre", "level": "3"}
			for k, w := range want {
				if c[k] != w {
					t.Errorf("Claims()[%q] = %q, want %q (all: %v)", k, c[k], w, c)
				}
			}
			for _, k := range []string{"aud", "exp", "iat", "nonce", "at_hash", "azp", "auth_time", "client_id", "roles"} {
				if _, ok := c[k]; ok {
					t.Errorf("Claims() has %q, want it left out", k)
				}
			}
			idp.SetClaims("u-alice", map[string]any{"department": "sales"})
			r, err := p.Refresh(context.Background(), v.RefreshToken(), "u-alice")
			if err != nil {
				t.Fatalf("Refresh: %v", err)
			}
			if got := r.Claims()["department"]; got != "sales" {
				t.Errorf("Claims()[department] after the IdP changed it and a refresh = %q, want sales", got)
			}
		})
	}
}
