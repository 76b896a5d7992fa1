package e2e

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/internal/testenv"
)

// TestOIDCSignInInChromium: the device flow with the IdP in headless
// Chromium, where the browser's own rules apply. The controller is at
// https://localhost:PORT and the IdP at https://127.0.0.1:PORT2 —
// different sites — so the IdP's redirect back is cross-site and the
// SameSite=Strict session cookie does not come along: the login page's
// CSP must let the button's redirect reach the IdP, the Lax binding
// cookie must find the session at the callback, and the confirm page it
// shows must approve the device. The agent then gets dana's tokens.
// Red: the binding cookie made Strict → the callback is refused (403,
// "not started in this browser").
func TestOIDCSignInInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		testenv.SkipOrFail(t, "no chromium on PATH (Debian: apt-get install chromium)")
	}
	env, _ := newOIDCEnvAt(t, "localhost", nil)
	_, port, _ := net.SplitHostPort(env.Server.Addr().String())
	base := "https://" + net.JoinHostPort("localhost", port)

	pub, priv, err := ed25519.GenerateKey(nil)
	Must(t, err)
	var da api.DeviceAuthorization
	if st := oauthPost(t, env, api.PathDeviceAuthorization, url.Values{"client_id": {api.ClientAgent},
		api.FieldDeviceKey: {base64.StdEncoding.EncodeToString(pub)}, api.FieldHostname: {"laptop-dana"}}, &da); st != http.StatusOK {
		t.Fatalf("device authorization = %d", st)
	}

	// The controller's and the IdP's CAs are the tests' own.
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.DisableGPU, chromedp.IgnoreCertErrors, chromedp.UserDataDir(t.TempDir())}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	defer cancelTimeout()

	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(css(sel)))
		Must(t, err)
		return v
	}
	Must(t, chromedp.Do(ctx,
		chromedp.Navigate(base+api.PathDevicePage+"?user_code="+url.QueryEscape(da.UserCode)),
		chromedp.Click(css(`form[action="/device"] button`)),
		chromedp.WaitVisible(css(`#idp-0`)),
	))
	if button := text(`#idp-0`); button != "Sign in with Test IdP" {
		t.Errorf("login page's IdP button = %q, want %q", button, "Sign in with Test IdP")
	}
	Must(t, chromedp.Do(ctx, chromedp.Click(css(`#idp-0`))))
	// The IdP's login form (another site): the login page's CSP must let
	// the button's redirect go there.
	wait, cancelWait := context.WithTimeout(ctx, 15*time.Second)
	defer cancelWait()
	if err := chromedp.Do(wait, chromedp.WaitVisible(css(`input[name="username"]`))); err != nil {
		location, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("the IdP's login form did not appear (still at %s: did the CSP's form-action block the redirect?): %v", location, err)
	}
	Must(t, chromedp.Do(ctx,
		chromedp.SendKeys(css(`input[name="username"]`), "dana"),
		chromedp.SendKeys(css(`input[name="password"]`), "pw-dana"),
		chromedp.Submit(css(`input[name="password"]`)),
		// Back at the controller: the page the callback shows.
		chromedp.WaitVisible(css(`h1`)),
	))
	location, err := chromedp.Run(ctx, chromedp.Location())
	Must(t, err)
	if body := text(`body`); !strings.HasPrefix(location, base+"/oidc/callback") || !strings.Contains(body, "Signed in as "+danaEmail) {
		t.Fatalf("after the IdP: at %s showing %q, want the confirm page for %s", location, body, danaEmail)
	}
	Must(t, chromedp.Do(ctx,
		chromedp.Click(css(`#approve`)),
		chromedp.WaitVisible(css(`#message`)),
	))
	if done := text(`#message`); !strings.Contains(done, "enrolled as yours and signed in") {
		t.Errorf("done page says %q, want the device enrolled and signed in", done)
	}
	var tok api.TokenResponse
	if st := oauthPost(t, env, api.PathToken, url.Values{"grant_type": {api.GrantTypeDeviceCode}, "client_id": {api.ClientAgent},
		"device_code": {da.DeviceCode}}, &tok); st != http.StatusOK || tok.User != danaEmail {
		t.Fatalf("token request = %d %+v, want dana's tokens", st, tok)
	}
	// The device is hers, and its link carries her session.
	p := connectRawPeer(t, env.rawHome(t), rawDevice{ID: tok.DeviceID, Key: priv}, tok.AccessToken)
	if env := p.request("grafana"); env.Type != api.TypeGrant {
		t.Errorf("grant request after the browser sign-in = %s %s, want a grant", env.Type, env.Data)
	}
}
