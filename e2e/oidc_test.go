package e2e

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
	"github.com/gatehouse-ztna/gatehouse/controller"
	"github.com/gatehouse-ztna/gatehouse/controller/httpapi"
	"github.com/gatehouse-ztna/gatehouse/controller/identity/oidc"
	"github.com/gatehouse-ztna/gatehouse/internal/testidp"
)

// Sign-in through an upstream IdP, end to end: a real controller over
// TLS on loopback with a real OpenID Provider (internal/testidp) as its
// upstream; the device flow driven through the controller's pages and the
// IdP's login form by a Go HTTP client with a cookie jar; the device's
// link and tunnels by a RawPeer (which ignores revoke).

// IdP users: dana (dana@example.com) is in the IdP group "engineering",
// which maps onto Gatehouse's eng (the group Standard's policy gives
// grafana); erin's email is outside the allowed domain.
const (
	danaSubject = "u-dana"
	danaEmail   = "dana@example.com"
)

// newOIDCEnv is New and Standard with the IdP as the controller's
// upstream (engineering → eng, only example.com), tune applied to the
// controller's config.
func newOIDCEnv(t testing.TB, tune func(*controller.Config)) (*Env, *testidp.IdP) {
	t.Helper()
	return newOIDCEnvAt(t, "127.0.0.1", tune)
}

// newOIDCEnvAt is newOIDCEnv with the redirect URL naming the controller
// as host (a loopback name its certificate covers).
func newOIDCEnvAt(t testing.TB, host string, tune func(*controller.Config)) (*Env, *testidp.IdP) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0") // the redirect URL needs the port before the controller starts
	Must(t, err)
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	idp := testidp.New(t, testidp.Options{})
	redirect := "https://" + net.JoinHostPort(host, port) + oidc.CallbackPath
	idp.AddClient("gatehouse", "s3cret", redirect)
	idp.AddUser(testidp.User{Subject: danaSubject, Username: "dana", Password: "pw-dana", Email: danaEmail, EmailVerified: true, Groups: []string{"engineering"}})
	idp.AddUser(testidp.User{Subject: "u-erin", Username: "erin", Password: "pw-erin", Email: "erin@other.org", EmailVerified: true, Groups: []string{"engineering"}})
	p, err := oidc.New(oidc.Config{Name: "Test IdP", Issuer: idp.Issuer, ClientID: "gatehouse", ClientSecret: "s3cret",
		RedirectURL: redirect, GroupMap: map[string]string{"engineering": "eng"}, AllowedEmailDomains: []string{"example.com"},
		HTTPClient: idp.HTTPClient()}, nil, nil)
	Must(t, err)
	Must(t, p.Discover(context.Background()))
	env := New(t, Options{
		Controller: func(c *controller.Config) {
			c.Identity.Upstreams = []*oidc.Provider{p}
			if tune != nil {
				tune(c)
			}
		},
		Server: func(s *httpapi.Config) {
			s.Listen = addr
			// Benchmarks sign in hundreds of times from one address; the
			// per-source limits are tested in controller/httpapi.
			s.SignIn.Pages = httpapi.Rate{Every: time.Millisecond, Burst: 1000}
			s.SignIn.DeviceAuth = httpapi.Rate{Every: time.Millisecond, Burst: 1000}
			s.Limits.AgentAuth = httpapi.Rate{Every: time.Millisecond, Burst: 1000} // one link per sign-in
		},
	})
	env.Standard(t)
	return env, idp
}

// pageBrowser is a person's browser on the sign-in pages: a cookie jar,
// the controller's CA, redirects followed while they stay on the
// controller.
type pageBrowser struct {
	t    testing.TB
	hc   *http.Client
	base string
	body string // the last page
}

func newPageBrowser(t testing.TB, env *Env) *pageBrowser {
	jar, _ := cookiejar.New(nil)
	hc := *controllerHTTPClient(t, env.Server.CAFile(), nil)
	hc.Jar, hc.Timeout = jar, 10*time.Second
	base, _ := url.Parse(env.Server.URL())
	hc.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if req.URL.Host != base.Host {
			return http.ErrUseLastResponse
		}
		return nil
	}
	return &pageBrowser{t: t, hc: &hc, base: env.Server.URL()}
}

// do keeps the answer's body as the page and returns the answer.
func (b *pageBrowser) do(res *http.Response, err error) *http.Response {
	b.t.Helper()
	Must(b.t, err)
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	b.body = string(raw)
	return res
}

func (b *pageBrowser) get(u string) *http.Response {
	b.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = b.base + u
	}
	return b.do(b.hc.Get(u))
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// post posts v and the page's CSRF token to path.
func (b *pageBrowser) post(path string, v url.Values) *http.Response {
	b.t.Helper()
	m := csrfField.FindStringSubmatch(b.body)
	if m == nil {
		b.t.Fatalf("page without a CSRF token:\n%s", b.body)
	}
	v.Set("csrf", html.UnescapeString(m[1]))
	return b.do(b.hc.PostForm(b.base+path, v))
}

// oauthPost posts an OAuth form as the agent does and decodes the answer
// into out.
func oauthPost(t testing.TB, env *Env, path string, form url.Values, out any) int {
	t.Helper()
	res, err := env.controllerAt(t).client.PostForm(env.Server.URL()+path, form)
	Must(t, err)
	defer res.Body.Close()
	Must(t, json.NewDecoder(res.Body).Decode(out))
	return res.StatusCode
}

// idpDeviceSignIn runs the device flow for a new device key, signing user
// in through the IdP on the pages, and returns the device and its tokens
// (the token request made at once after the approval: no poll interval).
// It stops at the page the callback showed unless that is the confirm
// page: then it approves and redeems.
func idpDeviceSignIn(t testing.TB, env *Env, idp *testidp.IdP, user, password string) (rawDevice, api.TokenResponse, *pageBrowser, *http.Response) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	Must(t, err)
	var da api.DeviceAuthorization
	if st := oauthPost(t, env, api.PathDeviceAuthorization, url.Values{"client_id": {api.ClientAgent},
		api.FieldDeviceKey: {base64.StdEncoding.EncodeToString(pub)}, api.FieldHostname: {"laptop-" + user}}, &da); st != http.StatusOK {
		t.Fatalf("device authorization = %d", st)
	}
	b := newPageBrowser(t, env)
	b.get(da.VerificationURIComplete)
	if res := b.post(api.PathDevicePage, url.Values{"user_code": {da.UserCode}}); res.Request.URL.Path != api.PathLogin || !strings.Contains(b.body, "Sign in with Test IdP") {
		t.Fatalf("after the code: at %s (%d), want the login page with the IdP's button:\n%s", res.Request.URL.Path, res.StatusCode, b.body)
	}
	res := b.post("/login/oidc", url.Values{"idp": {"0"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("IdP button = %d, want 303 to the IdP:\n%s", res.StatusCode, b.body)
	}
	cb, err := idp.Login(context.Background(), res.Header.Get("Location"), user, password)
	Must(t, err)
	res = b.get(cb.String())
	if res.StatusCode != http.StatusOK || !strings.Contains(b.body, `name="action" value="approve"`) {
		return rawDevice{}, api.TokenResponse{}, b, res
	}
	if res = b.post("/device/confirm", url.Values{"action": {"approve"}}); res.Request.URL.Path != "/device/done" {
		t.Fatalf("approve went to %s (%d):\n%s", res.Request.URL.Path, res.StatusCode, b.body)
	}
	var tok api.TokenResponse
	if st := oauthPost(t, env, api.PathToken, url.Values{"grant_type": {api.GrantTypeDeviceCode}, "client_id": {api.ClientAgent},
		"device_code": {da.DeviceCode}}, &tok); st != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("token request = %d %+v, want the tokens", st, tok)
	}
	return rawDevice{ID: tok.DeviceID, Key: priv}, tok, b, res
}

// TestOIDCGroupsDriveTunnelAndRefreshCuts: dana signs in through the
// device flow with the IdP; its group engineering maps onto eng, which
// Standard's policy gives grafana: the tunnel is granted and a stream
// flows through the gateway. The IdP then drops her from engineering; at
// the link's next refresh (at 80 % of the access token's life, as the
// agent does) the grant is revoked and the gateway cuts the stream of a
// client that ignores revoke, within 1 s of the refresh. Rounds are
// repeated for a p50.
func TestOIDCGroupsDriveTunnelAndRefreshCuts(t *testing.T) {
	const access = 4 * time.Second
	env, idp := newOIDCEnv(t, func(c *controller.Config) { c.Identity.AccessTTL = access })
	h := env.rawHome(t)
	var took []time.Duration
	for round := range 3 {
		idp.SetGroups(danaSubject, "engineering")
		d, tok, _, _ := idpDeviceSignIn(t, env, idp, "dana", "pw-dana")
		if tok.User != danaEmail {
			t.Fatalf("round %d: tokens for %q, want %s", round, tok.User, danaEmail)
		}
		p := connectRawPeer(t, h, d, tok.AccessToken)
		var w api.WelcomeMsg
		Must(t, p.Messages(api.TypeWelcome)[0].Decode(&w))
		if w.Session == nil || w.Session.User != danaEmail || !slices.Contains(w.Session.Methods, "oidc") {
			t.Fatalf("WelcomeMsg.Session = %+v, want dana's oidc session", w.Session)
		}
		g := p.Grant("grafana")
		s := g.OpenStream(g.Port())

		idp.SetGroups(danaSubject) // out of engineering at the IdP
		time.Sleep(time.Until(time.Now().Add(time.Duration(tok.ExpiresIn) * time.Second * 8 / 10)))
		refreshes := idp.Refreshes()
		start := time.Now()
		p.send(api.TypeRefresh, api.RefreshMsg{RefreshToken: tok.RefreshToken})
		g.AssertGatewayCut(s, time.Second)
		s.mu.Lock()
		took = append(took, s.endedAt.Sub(start))
		s.mu.Unlock()
		if idp.Refreshes() <= refreshes {
			t.Errorf("round %d: the link's refresh did not ask the IdP", round)
		}
		// The refresh itself succeeded (the IdP still knows dana): new tokens, no sign-out.
		p.await(2*time.Second, "tokens", func(m api.Envelope) bool { return m.Type == api.TypeTokens })
		if so := p.Messages(api.TypeSignedOut); len(so) > 0 {
			t.Errorf("round %d: link signed out (%s), want the cut to come from the groups, not the session", round, so[0].Data)
		}
		u, err := adminclient.Get[api.User](context.Background(), env.Admin, api.PathUsers, danaEmail)
		Must(t, err)
		if slices.Contains(u.Groups, "eng") {
			t.Errorf("round %d: dana's groups after the refresh = %v, want eng gone", round, u.Groups)
		}
		denial(t, p.request("grafana"), api.CodePolicyNoMatch)
	}
	slices.Sort(took)
	t.Logf("IdP group removed → refresh on the link → flow reset by the gateway: p50 %v, max %v over %d rounds",
		took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond), len(took))
}

// TestOIDCUserOutsideAllowedDomains: an IdP user whose email is outside
// the allowed domains is refused at the callback with a page saying why
// and what to do (403); no user is made and the code stays unapproved.
func TestOIDCUserOutsideAllowedDomains(t *testing.T) {
	env, idp := newOIDCEnv(t, nil)
	_, _, b, res := idpDeviceSignIn(t, env, idp, "erin", "pw-erin")
	if res.StatusCode != http.StatusForbidden || !strings.Contains(b.body, "Account not allowed") ||
		!strings.Contains(html.UnescapeString(b.body), `"other.org" is not one of this organisation's domains: sign in with your work account`) {
		t.Errorf("callback for erin@other.org = %d, want 403 naming the domain and the fix:\n%s", res.StatusCode, b.body)
	}
	if _, err := adminclient.Get[api.User](context.Background(), env.Admin, api.PathUsers, "erin@other.org"); err == nil {
		t.Errorf("erin@other.org was made a user")
	}
}

// BenchmarkOIDCSignInToFirstTunnel: from `gatehouse login` (device
// authorization) through the pages, the IdP's login form, the callback,
// the approval, the token request (made at once: no poll interval), the
// link with the access token, the grant, to the first bytes from the app
// through the tunnel. The human's reading and typing are not in it.
func BenchmarkOIDCSignInToFirstTunnel(b *testing.B) {
	env, idp := newOIDCEnv(b, nil)
	h := env.rawHome(b)
	var lat []time.Duration
	runTrials(b, 5, func() int {
		start := time.Now()
		d, tok, _, _ := idpDeviceSignIn(b, env, idp, "dana", "pw-dana")
		p := connectRawPeer(b, h, d, tok.AccessToken)
		g := p.Grant("grafana")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := firstByte(ctx, g)
		cancel()
		Must(b, err)
		lat = append(lat, time.Since(start))
		p.stop()
		p.conn.CloseNow()
		return len(lat)
	})
	reportLatencies(b, "signin-to-tunnel-", lat)
	b.ReportMetric(float64(len(lat)), "trials")
}

// firstByte dials the app through g and reads the first byte of its
// answer to a GET.
func firstByte(ctx context.Context, g *RawGrant) (byte, error) {
	c, err := g.Dial(ctx, g.Port())
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: app\r\n\r\n"); err != nil {
		return 0, err
	}
	var one [1]byte
	if _, err := io.ReadFull(c, one[:]); err != nil {
		return 0, fmt.Errorf("no answer through the tunnel: %w", err)
	}
	return one[0], nil
}
