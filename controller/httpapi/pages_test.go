package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
	"github.com/gatehouse-ztna/gatehouse/wire"
)

// startCode starts a device flow for a new device and returns its
// authorization.
func startCode(t *testing.T, e *signinEnv) api.DeviceAuthorization {
	t.Helper()
	da, err := wire.StartDeviceAuthorization(context.Background(), e.hc, e.base, wire.DeviceAuthorizationForm{DeviceKey: newKey(t), Hostname: "pc"})
	if err != nil {
		t.Fatalf("StartDeviceAuthorization = %v", err)
	}
	return da
}

// TestSignInPageRender: /device renders a plain form (parsed as HTML)
// with the code prefilled and escaped, the security headers, and a
// session cookie that is __Host-, Secure, HttpOnly and SameSite=Strict.
func TestSignInPageRender(t *testing.T) {
	e := newSigninEnv(t, Config{}, identity.Config{})
	b := e.browser(t)
	res := b.get(api.PathDevicePage + "?user_code=" + url.QueryEscape(`"<b>x`))
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /device = %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	action, fields, _ := parseForm(t, b.body)
	if action != api.PathDevicePage || fields["user_code"] != `"<b>x` || len(fields["csrf"]) < 40 {
		t.Errorf("form = %q %v, want action /device, user_code prefilled, a csrf token", action, fields)
	}
	if strings.Contains(b.body, "<b>x") {
		t.Errorf("the prefilled code reached the page unescaped:\n%s", b.body)
	}
	for h, want := range map[string]string{
		"Content-Security-Policy": "default-src 'none'",
		"X-Frame-Options":         "DENY",
		"Cache-Control":           "no-store",
		"Referrer-Policy":         "no-referrer",
		"X-Content-Type-Options":  "nosniff",
	} {
		if got := res.Header.Get(h); !strings.Contains(got, want) {
			t.Errorf("GET /device: %s = %q, want it to contain %q", h, got, want)
		}
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self';") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q: want frame-ancestors 'none' and only this origin's scripts (passkeys.js), no inline ones", csp)
	}
	var c *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == "__Host-gatehouse-signin" {
			c = ck
		}
	}
	if c == nil || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" || len(c.Value) < 43 || c.MaxAge <= 0 || c.MaxAge > 600 {
		t.Errorf("session cookie = %+v, want __Host-, HttpOnly, Secure, SameSite=Strict, Path=/, random, short-lived", c)
	}
	// A second visit keeps the session (and its token).
	csrf := fields["csrf"]
	b.get(api.PathDevicePage)
	if _, f2, _ := parseForm(t, b.body); f2["csrf"] != csrf {
		t.Errorf("second visit: csrf %q, want the session's %q", f2["csrf"], csrf)
	}
}

// TestSignInPagesCSRF: a POST without the session's CSRF token (missing,
// wrong, doubled, or without the session cookie) is refused with 403
// and changes nothing: no code taken, no sign-in, no approval.
func TestSignInPagesCSRF(t *testing.T) {
	e := newSigninEnv(t, Config{}, identity.Config{})
	da := startCode(t, e)
	b := e.browser(t)
	token := b.openDevicePage()
	noJar := *e.hc

	refused := func(name string, post func() *http.Response) {
		t.Helper()
		before := e.snapshot(t)
		logBefore := e.logs.String()
		if res := post(); res.StatusCode != http.StatusForbidden {
			t.Errorf("%s = %d, want 403", name, res.StatusCode)
		}
		if after := e.snapshot(t); after != before {
			t.Errorf("%s changed %+v to %+v", name, before, after)
		}
		if strings.Count(e.logs.String(), "signed in") != strings.Count(logBefore, "signed in") {
			t.Errorf("%s signed someone in", name)
		}
	}
	refused("POST /device without token", func() *http.Response {
		return b.post(api.PathDevicePage, url.Values{"user_code": {da.UserCode}})
	})
	refused("POST /device with a wrong token", func() *http.Response {
		return b.post(api.PathDevicePage, url.Values{"user_code": {da.UserCode}, "csrf": {token + "x"}})
	})
	refused("POST /device with the token twice", func() *http.Response {
		return b.post(api.PathDevicePage, url.Values{"user_code": {da.UserCode}, "csrf": {token, token}})
	})
	refused("POST /device without the session cookie", func() *http.Response {
		res, err := noJar.PostForm(e.base+api.PathDevicePage, url.Values{"user_code": {da.UserCode}, "csrf": {token}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	})
	// None of those took the code: the session is not at the sign-in.
	b.get(api.PathLogin)
	if b.page.Request.URL.Path != api.PathDevicePage {
		t.Errorf("after refused posts GET /login went to %s, want back to /device", b.page.Request.URL.Path)
	}

	// With the code taken properly, the sign-in and approval forms
	// refuse a missing token too.
	b.get(api.PathDevicePage)
	b.submit(map[string]string{"user_code": da.UserCode}, "")
	refused("POST /login without token", func() *http.Response {
		return b.post(api.PathLogin, url.Values{"user": {"bob"}, "password": {bobPassword}})
	})
	b.get(api.PathLogin)
	b.submit(map[string]string{"user": "bob", "password": bobPassword}, "")
	if b.page.Request.URL.Path != pathConfirm {
		t.Fatalf("bob's sign-in went to %s (%d)", b.page.Request.URL.Path, b.page.StatusCode)
	}
	refused("POST /device/confirm without token", func() *http.Response {
		return b.post(pathConfirm, url.Values{"action": {"approve"}})
	})
	if _, err := e.signIn().flow.Pending(da.UserCode); err != nil {
		t.Errorf("after a refused approval the code is %v, want still pending", err)
	}
}

// TestLoginBruteForceThrottled: wrong passwords get one generic message
// and are logged (never the password); after identity's 5 free failures
// and one more (whose backoff is 1 s)
// the page says to wait, and even the right password waits; after the
// wait the right password works (backoff, not a lock).
func TestLoginBruteForceThrottled(t *testing.T) {
	e := newSigninEnv(t, Config{}, identity.Config{})
	da := startCode(t, e)
	b := e.browser(t)
	b.get(api.PathDevicePage)
	b.submit(map[string]string{"user_code": da.UserCode}, "")
	loginForm := b.body
	guesses := []string{"guess-number-one", "guess-number-two", "guess-number-three", "guess-number-four", "guess-number-five", "guess-number-six"}
	for _, g := range guesses {
		b.body = loginForm
		b.submit(map[string]string{"user": "bob", "password": g}, "")
		if b.page.StatusCode != http.StatusUnauthorized || textByID(t, b.body, "error") != "Wrong user name, password or code." {
			t.Fatalf("wrong password %q = %d %q, want 401 with the generic message", g, b.page.StatusCode, textByID(t, b.body, "error"))
		}
	}
	var wait int
	for _, pw := range []string{"guess-number-seven", bobPassword} {
		b.body = loginForm
		b.submit(map[string]string{"user": "bob", "password": pw}, "")
		msg := textByID(t, b.body, "error")
		if b.page.StatusCode != http.StatusTooManyRequests || !strings.HasPrefix(msg, "Too many attempts, try again in ") {
			t.Fatalf("attempt after %d failures = %d %q, want 429 too many attempts", len(guesses), b.page.StatusCode, msg)
		}
		wait, _ = strconv.Atoi(b.page.Header.Get("Retry-After"))
	}
	if wait < 1 {
		t.Errorf("Retry-After = %d, want at least 1 s", wait)
	}
	logs := e.logs.String()
	if n := strings.Count(logs, `msg="sign-in failed"`); n != len(guesses) {
		t.Errorf("log has %d sign-in failures, want %d:\n%s", n, len(guesses), logs)
	}
	if !strings.Contains(logs, `msg="sign-in throttled" user=bob`) {
		t.Errorf("log has no throttled sign-in for bob:\n%s", logs)
	}
	for _, pw := range append(guesses, "guess-number-seven", bobPassword) {
		if strings.Contains(logs, pw) {
			t.Errorf("log holds password %q", pw)
		}
	}
	if ss, _ := e.tc.core.Identity.Sessions(context.Background(), "bob"); len(ss) != 0 {
		t.Errorf("bob's sessions = %v, want none", ss)
	}
	time.Sleep(time.Duration(wait) * time.Second)
	b.body = loginForm
	b.submit(map[string]string{"user": "bob", "password": bobPassword}, "")
	if b.page.Request.URL.Path != pathConfirm {
		t.Errorf("right password after the wait went to %s (%d), want the confirmation", b.page.Request.URL.Path, b.page.StatusCode)
	}
}

// TestSignInPagesBadInput: bad input on the pages gets a 4xx page and
// changes nothing.
func TestSignInPagesBadInput(t *testing.T) {
	e := newSigninEnv(t, Config{}, identity.Config{})
	da := startCode(t, e)
	b := e.browser(t)
	token := b.openDevicePage()
	step := func(name, path string, v url.Values, wantStatus int, wantText string) {
		t.Helper()
		before := e.snapshot(t)
		v.Set("csrf", token)
		res := b.post(path, v)
		if res.StatusCode != wantStatus || !strings.Contains(b.body, wantText) {
			t.Errorf("%s = %d, want %d with %q:\n%s", name, res.StatusCode, wantStatus, wantText, b.body)
		}
		if after := e.snapshot(t); after != before {
			t.Errorf("%s changed %+v to %+v", name, before, after)
		}
	}
	step("oversized form", api.PathDevicePage, url.Values{"user_code": {strings.Repeat("B", 5000)}}, http.StatusRequestEntityTooLarge, "at most 4096 bytes")
	step("code with vowels", api.PathDevicePage, url.Values{"user_code": {"ABCD-EFGH"}}, http.StatusBadRequest, "8 letters like BCDF-GHJK")
	step("unknown code", api.PathDevicePage, url.Values{"user_code": {"BCDF-GHJK"}}, http.StatusBadRequest, "unknown, expired or used already")
	step("sign-in before a code", api.PathLogin, url.Values{"user": {"bob"}, "password": {bobPassword}}, http.StatusBadRequest, "Enter the code")
	step("TOTP before a code", pathTOTP, url.Values{"code": {"123456"}}, http.StatusBadRequest, "Enter the code")
	step("approve before signing in", pathConfirm, url.Values{"action": {"approve"}}, http.StatusBadRequest, "Sign in")
	// Take the code (lower case, no dash: people type it so).
	step("", api.PathDevicePage, url.Values{"user_code": {strings.ToLower(strings.ReplaceAll(da.UserCode, "-", ""))}}, http.StatusOK, "Sign in")
	step("TOTP before the password", pathTOTP, url.Values{"code": {"123456"}}, http.StatusBadRequest, "user name and password before the code")
	step("empty password", api.PathLogin, url.Values{"user": {"alice"}}, http.StatusBadRequest, "Enter your user name and password")
	step("overlong user", api.PathLogin, url.Values{"user": {strings.Repeat("a", 300)}, "password": {"x"}}, http.StatusBadRequest, "Enter your user name and password")
	step("alice's password", api.PathLogin, url.Values{"user": {"alice"}, "password": {alicePassword}}, http.StatusOK, "authenticator app")
	step("wrong TOTP code", pathTOTP, url.Values{"code": {"000000"}}, http.StatusUnauthorized, "Wrong user name, password or code.")
	step("right TOTP code", pathTOTP, url.Values{"code": {e.nextTOTP(t)}}, http.StatusOK, "Approve this device?")
	step("neither approve nor deny", pathConfirm, url.Values{"action": {"maybe"}}, http.StatusBadRequest, "Choose Approve or Deny")
	if _, err := e.signIn().flow.Pending(da.UserCode); err != nil {
		t.Errorf("after the bad input the code is %v, want still pending", err)
	}
}

// TestTOTPStepAfterItsPasswordStepExpired: the code step completes
// identity's FirstFactor (no password is kept in the sign-in session);
// once that has expired the page asks for the password again (400) and
// signs nobody in, even with a right code.
func TestTOTPStepAfterItsPasswordStepExpired(t *testing.T) {
	e := newSigninEnv(t, Config{}, identity.Config{FirstFactorTTL: 50 * time.Millisecond})
	da := startCode(t, e)
	b := e.browser(t)
	b.get(api.PathDevicePage + "?user_code=" + url.QueryEscape(da.UserCode))
	b.submit(nil, "")
	b.submit(map[string]string{"user": "alice", "password": alicePassword}, "")
	if _, fields, _ := parseForm(t, b.body); b.page.StatusCode != http.StatusOK || !hasField(fields, "code") {
		t.Fatalf("password step = %d, want the code page", b.page.StatusCode)
	}
	time.Sleep(100 * time.Millisecond)
	before := e.snapshot(t)
	b.submit(map[string]string{"code": e.nextTOTP(t)}, "")
	if msg := textByID(t, b.body, "error"); b.page.StatusCode != http.StatusBadRequest || !strings.Contains(msg, "enter your password again") {
		t.Errorf("code step after the password step expired = %d %q, want 400 asking for the password", b.page.StatusCode, msg)
	}
	if action, _, _ := parseForm(t, b.body); action != api.PathLogin {
		t.Errorf("page after the expired step posts to %q, want the login form", action)
	}
	if after := e.snapshot(t); after != before || strings.Contains(e.logs.String(), "signed in") {
		t.Errorf("expired code step changed %+v to %+v or signed someone in", before, after)
	}
}

func hasField(fields map[string]string, name string) bool {
	_, ok := fields[name]
	return ok
}
