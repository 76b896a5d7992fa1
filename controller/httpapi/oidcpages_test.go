package httpapi

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
	"github.com/gatehouse-ztna/gatehouse/controller/identity/oidc"
	"github.com/gatehouse-ztna/gatehouse/internal/testidp"
)

// oidcEnv is signinEnv with an upstream IdP (a real OpenID Provider on
// loopback, internal/testidp) configured as "Test IdP": users dana
// (dana@example.com, IdP group eng → Gatehouse eng) and erin
// (erin@other.org).
type oidcEnv struct {
	*signinEnv
	idp *testidp.IdP
}

func newOIDCEnv(t *testing.T, edit func(*oidc.Config)) *oidcEnv {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0") // the redirect URL needs the port first
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	idp := testidp.New(t, testidp.Options{})
	redirect := "https://" + addr + oidc.CallbackPath
	idp.AddClient("gatehouse", "s3cret", redirect)
	idp.AddUser(testidp.User{Subject: "u-dana", Username: "dana", Password: "pw-dana", Email: "dana@example.com", EmailVerified: true, Groups: []string{"eng"}})
	idp.AddUser(testidp.User{Subject: "u-erin", Username: "erin", Password: "pw-erin", Email: "erin@other.org", EmailVerified: true})
	cfg := oidc.Config{Name: "Test IdP", Issuer: idp.Issuer, ClientID: "gatehouse", ClientSecret: "s3cret", RedirectURL: redirect,
		GroupMap: map[string]string{"eng": "eng"}, HTTPClient: idp.HTTPClient()}
	if edit != nil {
		edit(&cfg)
	}
	p, err := oidc.New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Discover(context.Background()) // an unreachable IdP stays unavailable
	e := newSigninEnv(t, Config{Listen: addr}, identity.Config{Upstreams: []*oidc.Provider{p}})
	return &oidcEnv{signinEnv: e, idp: idp}
}

// oidcBrowser is a browser that stops at redirects leaving the
// controller (the IdP is driven by testidp.Login).
func (e *oidcEnv) oidcBrowser(t testing.TB) *browser {
	b := e.browser(t)
	base, _ := url.Parse(e.base)
	b.hc.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if req.URL.Host != base.Host {
			return http.ErrUseLastResponse
		}
		return nil
	}
	return b
}

// toIdP enters userCode and presses the IdP's button; it returns where
// the controller sent the browser (the IdP's authorization URL).
func (b *browser) toIdP(userCode string) string {
	b.t.Helper()
	b.get(api.PathDevicePage + "?user_code=" + url.QueryEscape(userCode))
	b.submit(nil, "")
	if b.page.Request.URL.Path != api.PathLogin {
		b.t.Fatalf("after the code: at %s (%d)", b.page.Request.URL.Path, b.page.StatusCode)
	}
	_, fields, _ := parseForm(b.t, b.body)
	b.post(pathOIDCStart, url.Values{"csrf": {fields["csrf"]}, "idp": {"0"}})
	if b.page.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("POST %s = %d, want 303 to the IdP:\n%s", pathOIDCStart, b.page.StatusCode, b.body)
	}
	return b.page.Header.Get("Location")
}

// atIdP signs user in at the IdP and returns the callback URL it sends
// the browser to (not opened).
func (e *oidcEnv) atIdP(t testing.TB, authURL, user, password string) string {
	t.Helper()
	cb, err := e.idp.Login(context.Background(), authURL, user, password)
	if err != nil {
		t.Fatalf("IdP login: %v", err)
	}
	return cb.String()
}

// TestOIDCSignInPage: the login page offers "Sign in with Test IdP" (and
// lets its form lead there in the CSP); the button, the IdP's login and
// the callback sign dana in, the confirm page shows her, and the agent
// gets her tokens (methods oidc) and her IdP group.
func TestOIDCSignInPage(t *testing.T) {
	e := newOIDCEnv(t, nil)
	da := startCode(t, e.signinEnv)
	polled := e.poll(t, da)
	b := e.oidcBrowser(t)
	b.get(api.PathDevicePage + "?user_code=" + url.QueryEscape(da.UserCode))
	b.submit(nil, "")
	if got := textByID(t, b.body, "idp-0"); got != "Sign in with Test IdP" {
		t.Errorf("login page's IdP button = %q, want %q", got, "Sign in with Test IdP")
	}
	if csp := b.page.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' "+e.idp.Issuer) {
		t.Errorf("login page CSP %q, want form-action to allow %s", csp, e.idp.Issuer)
	}
	authURL := b.toIdP(da.UserCode)
	if !strings.HasPrefix(authURL, e.idp.Issuer) {
		t.Fatalf("IdP button sent the browser to %q, want the IdP", authURL)
	}
	var lax *http.Cookie
	for _, c := range b.page.Cookies() {
		if c.Name == "__Host-gatehouse-oidc" {
			lax = c
		}
	}
	if lax == nil || !lax.Secure || !lax.HttpOnly || lax.SameSite != http.SameSiteLaxMode || lax.Path != "/" || len(lax.Value) < 43 {
		t.Errorf("OIDC binding cookie = %+v, want __Host-, Secure, HttpOnly, SameSite=Lax, random", lax)
	}
	b.get(e.atIdP(t, authURL, "dana", "pw-dana"))
	if b.page.StatusCode != http.StatusOK || textByID(t, b.body, "signed-in-user") != "dana@example.com" {
		t.Fatalf("callback = %d, want the confirm page for dana@example.com:\n%s", b.page.StatusCode, b.body)
	}
	b.submit(nil, "approve")
	if b.page.Request.URL.Path != pathDone {
		t.Fatalf("approve went to %s (%d):\n%s", b.page.Request.URL.Path, b.page.StatusCode, b.body)
	}
	got := <-polled
	if got.err != nil || got.tok.User != "dana@example.com" || got.tok.AccessToken == "" {
		t.Fatalf("poll = %+v, %v; want dana's tokens", got.tok, got.err)
	}
	ss, err := e.tc.core.Identity.Sessions(context.Background(), "dana@example.com")
	if err != nil || len(ss) != 1 || !slices.Contains(ss[0].Methods, identity.MethodOIDC) {
		t.Errorf("dana's sessions = %+v, %v; want one with method oidc", ss, err)
	}
}

// TestOIDCCallbackLoginCSRF: a callback whose state another browser began
// (the attacker's sign-in, handed to a victim) is refused with 403 and
// changes nothing: no proof in the victim's session, and the state stays
// pending for the browser that began it.
// Red: without the state-to-session comparison in oidcCallback the
// victim's browser is signed in as the attacker.
func TestOIDCCallbackLoginCSRF(t *testing.T) {
	e := newOIDCEnv(t, nil)
	attacker, victim := e.oidcBrowser(t), e.oidcBrowser(t)
	daA, daV := startCode(t, e.signinEnv), startCode(t, e.signinEnv)
	cbA := e.atIdP(t, attacker.toIdP(daA.UserCode), "dana", "pw-dana")
	victim.toIdP(daV.UserCode) // the victim has a sign-in of its own under way

	before := e.snapshot(t)
	victim.get(cbA)
	if victim.page.StatusCode != http.StatusForbidden || !strings.Contains(victim.body, "started in another browser") {
		t.Errorf("victim opening the attacker's callback = %d, want 403 saying so:\n%s", victim.page.StatusCode, victim.body)
	}
	noCookies := *e.hc
	res, err := noCookies.Get(cbA)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("callback without any cookie = %d, want 403", res.StatusCode)
	}
	if after := e.snapshot(t); after != before {
		t.Errorf("refused callbacks changed %+v to %+v", before, after)
	}
	victim.get(pathConfirm)
	if victim.page.Request.URL.Path != api.PathLogin {
		t.Errorf("victim's confirm page after the refused callback: at %s, want back at the login (no proof)", victim.page.Request.URL.Path)
	}
	// Nothing changed: the attacker's own browser still finishes its sign-in.
	attacker.get(cbA)
	if attacker.page.StatusCode != http.StatusOK || textByID(t, attacker.body, "signed-in-user") != "dana@example.com" {
		t.Errorf("the callback in its own browser = %d, want the confirm page:\n%s", attacker.page.StatusCode, attacker.body)
	}
	// Spent: the same callback again is refused.
	attacker.get(cbA)
	if attacker.page.StatusCode != http.StatusForbidden {
		t.Errorf("the callback replayed = %d, want 403", attacker.page.StatusCode)
	}
}

// TestOIDCSignInRefusals: the IdP's error answer, a user outside the
// allowed domains, and an unreachable IdP each get a clear page (4xx, or
// 503 for the IdP down) and no sign-in.
func TestOIDCSignInRefusals(t *testing.T) {
	t.Run("IdP answers access_denied", func(t *testing.T) {
		e := newOIDCEnv(t, nil)
		b := e.oidcBrowser(t)
		authURL := b.toIdP(startCode(t, e.signinEnv).UserCode)
		u, _ := url.Parse(authURL)
		cb := e.base + oidc.CallbackPath + "?" + url.Values{"error": {"access_denied"}, "error_description": {"<b>call 555</b>"},
			"state": {u.Query().Get("state")}}.Encode()
		before := e.snapshot(t)
		b.get(cb)
		if b.page.StatusCode != http.StatusForbidden || textByID(t, b.body, "error") != "Test IdP did not sign you in (access_denied). Start again, or ask your admin whether you should have access." {
			t.Errorf("callback with error=access_denied = %d %q, want 403 with a clear message", b.page.StatusCode, textByID(t, b.body, "error"))
		}
		if strings.Contains(b.body, "555") {
			t.Errorf("the page repeats the IdP's free-text description:\n%s", b.body)
		}
		if after := e.snapshot(t); after != before {
			t.Errorf("refused callback changed %+v to %+v", before, after)
		}
	})
	t.Run("email domain not allowed", func(t *testing.T) {
		e := newOIDCEnv(t, func(c *oidc.Config) { c.AllowedEmailDomains = []string{"example.com"} })
		b := e.oidcBrowser(t)
		authURL := b.toIdP(startCode(t, e.signinEnv).UserCode)
		before := e.snapshot(t)
		b.get(e.atIdP(t, authURL, "erin", "pw-erin"))
		msg := textByID(t, b.body, "error")
		if b.page.StatusCode != http.StatusForbidden || !strings.Contains(msg, `"other.org" is not one of this organisation's domains: sign in with your work account`) {
			t.Errorf("callback for erin@other.org = %d %q, want 403 naming the domain and the fix", b.page.StatusCode, msg)
		}
		if strings.Contains(e.logs.String(), "signed in") {
			t.Errorf("erin@other.org was signed in")
		}
		if after := e.snapshot(t); after != before {
			t.Errorf("refused sign-in changed %+v to %+v", before, after)
		}
	})
	t.Run("IdP unreachable", func(t *testing.T) {
		e := newOIDCEnv(t, func(c *oidc.Config) { c.Issuer = "https://127.0.0.1:1" })
		b := e.oidcBrowser(t)
		b.get(api.PathDevicePage + "?user_code=" + url.QueryEscape(startCode(t, e.signinEnv).UserCode))
		b.submit(nil, "")
		if st := textByID(t, b.body, "idp-0-status"); !strings.Contains(st, "Sign-in with Test IdP is unavailable: ") || !strings.Contains(st, "discovery failed") {
			t.Errorf("login page's IdP status = %q, want unavailable with the reason", st)
		}
		_, fields, _ := parseForm(t, b.body)
		b.post(pathOIDCStart, url.Values{"csrf": {fields["csrf"]}, "idp": {"0"}})
		if b.page.StatusCode != http.StatusServiceUnavailable || !strings.Contains(textByID(t, b.body, "error"), "Sign-in with Test IdP is unavailable") {
			t.Errorf("IdP button with the IdP down = %d %q, want 503 saying so", b.page.StatusCode, textByID(t, b.body, "error"))
		}
	})
	t.Run("bad IdP choice or no CSRF token", func(t *testing.T) {
		e := newOIDCEnv(t, nil)
		b := e.oidcBrowser(t)
		b.get(api.PathDevicePage + "?user_code=" + url.QueryEscape(startCode(t, e.signinEnv).UserCode))
		b.submit(nil, "")
		_, fields, _ := parseForm(t, b.body)
		for _, tt := range []struct {
			name string
			form url.Values
			want int
		}{
			{"no token", url.Values{"idp": {"0"}}, http.StatusForbidden},
			{"unknown IdP", url.Values{"csrf": {fields["csrf"]}, "idp": {"7"}}, http.StatusBadRequest},
			{"not a number", url.Values{"csrf": {fields["csrf"]}, "idp": {"x"}}, http.StatusBadRequest},
		} {
			if b.post(pathOIDCStart, tt.form); b.page.StatusCode != tt.want {
				t.Errorf("POST %s (%s) = %d, want %d", pathOIDCStart, tt.name, b.page.StatusCode, tt.want)
			}
		}
	})
}
