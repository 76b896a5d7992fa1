package httpapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
	"github.com/gatehouse-ztna/gatehouse/internal/webauthntest"
	"github.com/gatehouse-ztna/gatehouse/wire"
)

var csrfMeta = regexp.MustCompile(`name="csrf-token" content="([^"]+)"`)

// openPage GETs path and returns the page's CSRF token.
func (pc *passkeyController) openPage(t *testing.T, cl *http.Client, path string) string {
	t.Helper()
	status, body := do(t, cl, "GET", pc.origin+path, "", nil, nil)
	m := csrfMeta.FindStringSubmatch(body)
	if status != http.StatusOK || m == nil {
		t.Fatalf("GET %s = %d without a CSRF token: %.300s", path, status, body)
	}
	return m[1]
}

// postJSON posts body to path with the CSRF header.
func (pc *passkeyController) postJSON(t *testing.T, cl *http.Client, path, csrf, body string) (int, string) {
	t.Helper()
	return do(t, cl, "POST", pc.origin+path, "application/json", strings.NewReader(body), map[string]string{"X-CSRF-Token": csrf})
}

// signInWithPassword signs cl in on the account page with password and code.
func (pc *passkeyController) signInWithPassword(t *testing.T, cl *http.Client) string {
	t.Helper()
	csrf := pc.openPage(t, cl, PathAccount)
	form := url.Values{"csrf": {csrf}, "user": {"alice"}, "password": {alicePassword}, "code": {pc.nextCode(t)}}
	if status, body := do(t, cl, "POST", pc.origin+pathAccountLogin, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), nil); status != http.StatusSeeOther {
		t.Fatalf("POST %s = %d, want 303: %.300s", pathAccountLogin, status, body)
	}
	return csrf
}

// startWithPasskey starts a passkey controller, signs alice in on the
// account page in cl (with password and code; csrf is its session's
// token) and adds auth's passkey "laptop".
func startWithPasskey(t *testing.T) (pc *passkeyController, auth *webauthntest.Authenticator, cl *http.Client, csrf string) {
	t.Helper()
	pc = startPasskeyController(t)
	auth = webauthntest.New(pc.origin)
	cl = pc.client(t)
	csrf = pc.signInWithPassword(t, cl)
	pc.addPasskey(t, cl, csrf, auth, "laptop")
	return pc, auth, cl, csrf
}

// addPasskey adds auth's passkey name for the user cl is signed in as.
func (pc *passkeyController) addPasskey(t *testing.T, cl *http.Client, csrf string, auth *webauthntest.Authenticator, name string) {
	t.Helper()
	status, opts := pc.postJSON(t, cl, pathPasskeyAddBegin, csrf, `{"name":"`+name+`"}`)
	if status != http.StatusOK {
		t.Fatalf("add begin = %d %s, want 200", status, opts)
	}
	resp, err := auth.Create([]byte(opts))
	if err != nil {
		t.Fatal(err)
	}
	if status, body := pc.postJSON(t, cl, pathPasskeyAddEnd, csrf, string(resp)); status != http.StatusOK || !strings.Contains(body, PathAccount) {
		t.Fatalf("add finish = %d %s, want 200 with next", status, body)
	}
}

// TestPasskeyOverHTTP drives the endpoints with a software authenticator:
// add a passkey, sign in with it; a phishing origin and a replayed finish
// are refused.
func TestPasskeyOverHTTP(t *testing.T) {
	pc, auth, cl, csrf := startWithPasskey(t)

	signIn := func(auth *webauthntest.Authenticator) (int, string, string, *http.Client) {
		cl := pc.client(t)
		csrf := pc.openPage(t, cl, PathPasskeyLogin)
		status, opts := pc.postJSON(t, cl, pathPasskeyLoginBegin, csrf, `{"user":"","for":"account"}`)
		if status != http.StatusOK {
			t.Fatalf("login begin = %d %s", status, opts)
		}
		resp, err := auth.Get([]byte(opts))
		if err != nil {
			t.Fatal(err)
		}
		status, body := pc.postJSON(t, cl, pathPasskeyLoginEnd, csrf, string(resp))
		return status, body, string(resp), cl
	}
	status, body, resp2, cl2 := signIn(auth)
	var next struct{ Next string }
	if json.Unmarshal([]byte(body), &next); status != http.StatusOK || next.Next != PathAccount {
		t.Fatalf("login finish = %d %s, want 200 next %s", status, body, PathAccount)
	}
	if _, page := do(t, cl2, "GET", pc.origin+PathAccount, "", nil, nil); !strings.Contains(page, `id="methods">webauthn<`) || strings.Contains(page, `id="passkey-add"`) {
		t.Errorf("account page after a passkey sign-in: want methods webauthn and no way to add a passkey: %.600s", page)
	}
	sessions, _ := pc.core.Identity.Sessions(t.Context(), "alice")
	if !slices.ContainsFunc(sessions, func(s identity.Session) bool { return slices.Equal(s.Methods, []string{"webauthn"}) }) {
		t.Errorf("alice's sessions = %+v, want one with methods [webauthn]", sessions)
	}
	// Several passkeys, each named; one deleted from the page (no JavaScript).
	phone := webauthntest.New(pc.origin)
	pc.addPasskey(t, cl, csrf, phone, "phone")
	keys, _ := pc.core.Identity.Passkeys(t.Context(), "alice")
	if len(keys) != 2 || keys[0].Name != "laptop" || keys[1].Name != "phone" {
		t.Fatalf("Passkeys(alice) = %+v, want laptop and phone", keys)
	}
	form := url.Values{"csrf": {csrf}, "id": {keys[1].ID}}
	if status, body := do(t, cl, "POST", pc.origin+pathPasskeyDelete, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), nil); status != http.StatusSeeOther {
		t.Fatalf("delete phone = %d %.300s, want 303", status, body)
	}
	if keys, _ := pc.core.Identity.Passkeys(t.Context(), "alice"); len(keys) != 1 || keys[0].Name != "laptop" {
		t.Errorf("after deleting phone Passkeys(alice) = %+v, want laptop only", keys)
	}
	if status, _, _, _ := signIn(phone); status != http.StatusUnauthorized {
		t.Errorf("sign-in with the deleted passkey = %d, want 401", status)
	}
	// An admin revokes alice's sessions: the page session ends with them.
	helpdesk := identity.Principal{Kind: identity.PrincipalToken, Name: "ops", Role: identity.Helpdesk}
	if _, err := pc.core.Identity.RevokeUserSessions(t.Context(), helpdesk, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, page := do(t, cl2, "GET", pc.origin+PathAccount, "", nil, nil); !strings.Contains(page, `id="password-form"`) {
		t.Errorf("account page after the session was revoked: want the sign-in form: %.600s", page)
	}
	// The same response again: its ceremony is spent.
	if status, body := pc.postJSON(t, cl2, pathPasskeyLoginEnd, csrfOf(t, pc, cl2), resp2); status != http.StatusBadRequest {
		t.Errorf("replayed login finish = %d %s, want 400", status, body)
	}
	// A phishing page's origin.
	evil := *auth
	evil.Origin = "https://gatehouse-login.localhost:8443"
	if status, body, _, _ := signIn(&evil); status != http.StatusUnauthorized || !strings.Contains(body, "Wrong user name, password, code or passkey") {
		t.Errorf("login finish from another origin = %d %s, want 401", status, body)
	}
	if !strings.Contains(pc.log.String(), "passkey sign-in refused") {
		t.Errorf("a refused passkey sign-in was not logged")
	}
}

// csrfOf is the CSRF token of cl's session (from the account page).
func csrfOf(t *testing.T, pc *passkeyController, cl *http.Client) string {
	return pc.openPage(t, cl, PathAccount)
}

// TestPasskeyEndpointsRefuseBadInput: every endpoint answers bad input
// with a clear 4xx and changes nothing.
func TestPasskeyEndpointsRefuseBadInput(t *testing.T) {
	pc := startPasskeyController(t)
	cl := pc.client(t)
	csrf := pc.openPage(t, cl, PathPasskeyLogin)
	stranger := pc.client(t) // no session cookie
	big := `{"user":"` + strings.Repeat("a", 2<<10) + `"}`
	tests := []struct {
		name        string
		cl          *http.Client
		path        string
		contentType string
		body        string
		header      map[string]string
		want        int
	}{
		{"no CSRF header", cl, pathPasskeyLoginBegin, "application/json", `{}`, nil, http.StatusForbidden},
		{"wrong CSRF header", cl, pathPasskeyLoginBegin, "application/json", `{}`, map[string]string{"X-CSRF-Token": "x" + csrf}, http.StatusForbidden},
		{"no session", stranger, pathPasskeyLoginBegin, "application/json", `{}`, map[string]string{"X-CSRF-Token": csrf}, http.StatusForbidden},
		{"cross-site", cl, pathPasskeyLoginBegin, "application/json", `{}`, map[string]string{"X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"form post", cl, pathPasskeyLoginBegin, "application/x-www-form-urlencoded", `user=alice`, map[string]string{"X-CSRF-Token": csrf}, http.StatusUnsupportedMediaType},
		{"oversized", cl, pathPasskeyLoginBegin, "application/json", big, map[string]string{"X-CSRF-Token": csrf}, http.StatusRequestEntityTooLarge},
		{"malformed JSON", cl, pathPasskeyLoginBegin, "application/json", `{"user":`, map[string]string{"X-CSRF-Token": csrf}, http.StatusBadRequest},
		{"unknown field", cl, pathPasskeyLoginBegin, "application/json", `{"usr":"alice"}`, map[string]string{"X-CSRF-Token": csrf}, http.StatusBadRequest},
		{"finish without begin", cl, pathPasskeyLoginEnd, "application/json", `{"id":"x"}`, map[string]string{"X-CSRF-Token": csrf}, http.StatusBadRequest},
		{"add without sign-in", cl, pathPasskeyAddBegin, "application/json", `{"name":"laptop"}`, map[string]string{"X-CSRF-Token": csrf}, http.StatusForbidden},
		{"password form without CSRF", cl, pathAccountLogin, "application/x-www-form-urlencoded", "user=alice&password=" + alicePassword, nil, http.StatusForbidden},
		{"delete without sign-in", cl, pathPasskeyDelete, "application/x-www-form-urlencoded", "id=x&csrf=" + csrf, nil, http.StatusUnauthorized},
		{"oversized form", cl, pathAccountLogin, "application/x-www-form-urlencoded", "csrf=" + csrf + "&user=" + strings.Repeat("a", 5<<10), nil, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := do(t, tt.cl, "POST", pc.origin+tt.path, tt.contentType, strings.NewReader(tt.body), tt.header)
			if status != tt.want {
				t.Errorf("POST %s (%s) = %d %.200s, want %d", tt.path, tt.name, status, body, tt.want)
			}
		})
	}
	if keys, _ := pc.core.Identity.Passkeys(t.Context(), "alice"); len(keys) != 0 {
		t.Errorf("bad input left alice with passkeys %+v", keys)
	}
	if sessions, _ := pc.core.Identity.Sessions(t.Context(), "alice"); len(sessions) != 0 {
		t.Errorf("bad input left alice with sessions %+v", sessions)
	}
	res, err := cl.Get(pc.origin + pathPasskeysJS)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if ct, csp := res.Header.Get("Content-Type"), res.Header.Get("Content-Security-Policy"); res.StatusCode != 200 || !strings.HasPrefix(ct, "text/javascript") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("GET %s = %d %q CSP %q, want 200 text/javascript with script-src 'self'", pathPasskeysJS, res.StatusCode, ct, csp)
	}
}

// TestPasskeySignInThrottled: failed passkey sign-ins for a named user
// back off like passwords: 429 with Retry-After, logged.
func TestPasskeySignInThrottled(t *testing.T) {
	pc, auth, _, csrf := startWithPasskey(t)
	evil := *auth
	evil.Origin = "https://gatehouse-login.localhost:8443"
	other := pc.client(t)
	csrf = pc.openPage(t, other, PathPasskeyLogin)
	var status int
	var body string
	for range identity.DefaultThrottle.Account.Free + 2 {
		_, opts := pc.postJSON(t, other, pathPasskeyLoginBegin, csrf, `{"user":"alice","for":"account"}`)
		resp, err := evil.Get([]byte(opts))
		if err != nil {
			t.Fatal(err)
		}
		if status, body = pc.postJSON(t, other, pathPasskeyLoginEnd, csrf, string(resp)); status == http.StatusTooManyRequests {
			break
		}
	}
	if status != http.StatusTooManyRequests || !strings.Contains(body, "try again in") {
		t.Errorf("after %d failed passkey sign-ins: %d %s, want 429", identity.DefaultThrottle.Account.Free+2, status, body)
	}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// TestPasskeyDeviceFlowOverHTTP: a passkey sign-in begun for the device
// flow needs a code entered in the same session and hands its Proof to
// the confirm step; one begun for the account page does not, and a
// begin that does not say which is refused.
func TestPasskeyDeviceFlowOverHTTP(t *testing.T) {
	pc, auth, _, _ := startWithPasskey(t)

	br := pc.client(t)
	status, page := do(t, br, "GET", pc.origin+api.PathDevicePage, "", nil, nil)
	m := csrfField.FindStringSubmatch(page)
	if status != http.StatusOK || m == nil {
		t.Fatalf("GET /device = %d without a CSRF field", status)
	}
	csrf := m[1]
	for _, tt := range []struct{ name, body string }{
		{"device sign-in before a code", `{"for":"device"}`},
		{"no purpose", `{"user":""}`},
		{"unknown purpose", `{"for":"admin"}`},
	} {
		if status, body := pc.postJSON(t, br, pathPasskeyLoginBegin, csrf, tt.body); status != http.StatusForbidden && status != http.StatusBadRequest {
			t.Errorf("%s: begin %s = %d %s, want 403 or 400", tt.name, tt.body, status, body)
		}
	}
	pc.enterCode(t, br, csrf)
	confirmStatus := func() (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", pc.origin+pathConfirm, nil)
		res, err := br.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode, res.Header.Get("Location")
	}
	signIn := func(purpose string) string {
		t.Helper()
		status, opts := pc.postJSON(t, br, pathPasskeyLoginBegin, csrf, `{"for":"`+purpose+`"}`)
		if status != http.StatusOK {
			t.Fatalf("begin for %s = %d %s", purpose, status, opts)
		}
		resp, err := auth.Get([]byte(opts))
		if err != nil {
			t.Fatal(err)
		}
		status, body := pc.postJSON(t, br, pathPasskeyLoginEnd, csrf, string(resp))
		var next struct{ Next string }
		if json.Unmarshal([]byte(body), &next); status != http.StatusOK {
			t.Fatalf("finish for %s = %d %s", purpose, status, body)
		}
		return next.Next
	}
	// Signed in on the account page: the device still needs a sign-in.
	if next := signIn(passkeyForAccount); next != PathAccount {
		t.Errorf("account passkey sign-in: next %q, want %s", next, PathAccount)
	}
	if status, loc := confirmStatus(); status != http.StatusSeeOther || loc != api.PathLogin {
		t.Errorf("GET %s after an account sign-in = %d → %q, want 303 → %s", pathConfirm, status, loc, api.PathLogin)
	}
	if next := signIn(passkeyForDevice); next != pathConfirm {
		t.Errorf("device passkey sign-in: next %q, want %s", next, pathConfirm)
	}
	if status, loc := confirmStatus(); status != http.StatusOK {
		t.Errorf("GET %s after the device sign-in = %d → %q, want 200", pathConfirm, status, loc)
	}
}

// enterCode starts a device authorization and posts its code on /device
// in cl's session.
func (pc *passkeyController) enterCode(t *testing.T, cl *http.Client, csrf string) {
	t.Helper()
	_, da := pc.startCode(t, "laptop")
	form := url.Values{"csrf": {csrf}, "user_code": {da.UserCode}}
	if status, body := do(t, cl, "POST", pc.origin+api.PathDevicePage, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), nil); status != http.StatusSeeOther {
		t.Fatalf("POST /device = %d %.300s, want 303", status, body)
	}
}

// startCode starts a device authorization for a new device named
// hostname, as gatehouse login does; it returns the agent's client too.
func (pc *passkeyController) startCode(t *testing.T, hostname string) (*http.Client, api.DeviceAuthorization) {
	t.Helper()
	caPEM, err := os.ReadFile(pc.Server.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	hc, err := wire.HTTPClient(caPEM, "this device")
	if err != nil {
		t.Fatal(err)
	}
	da, err := wire.StartDeviceAuthorization(t.Context(), hc, pc.origin, wire.DeviceAuthorizationForm{DeviceKey: newKey(t), Hostname: hostname})
	if err != nil {
		t.Fatalf("StartDeviceAuthorization = %v", err)
	}
	return hc, da
}
