package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
	"github.com/gatehouse-ztna/gatehouse/wire"
)

var userCodeRE = regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)

// TestDeviceFlowNewDeviceTOTP: a new device signs in through the pages
// (code, password, TOTP, approve) while the agent polls with the wire
// client; it gets tokens for the device the sign-in enrolled as alice's,
// and the access token authenticates for that device only.
func TestDeviceFlowNewDeviceTOTP(t *testing.T) {
	e := newSigninEnv(t, Config{}, identity.Config{})
	ctx := context.Background()
	key := newKey(t)
	da, err := wire.StartDeviceAuthorization(ctx, e.hc, e.base, wire.DeviceAuthorizationForm{DeviceKey: key, Hostname: "laptop-1"})
	if err != nil {
		t.Fatalf("StartDeviceAuthorization = %v", err)
	}
	if !userCodeRE.MatchString(da.UserCode) || len(da.DeviceCode) < 43 || da.ExpiresIn != 600 || da.Interval != 1 ||
		da.VerificationURI != e.base+api.PathDevicePage || da.VerificationURIComplete != e.base+api.PathDevicePage+"?user_code="+da.UserCode {
		t.Fatalf("StartDeviceAuthorization = %+v, want a XXXX-XXXX code, a 256-bit device code, 600 s, 1 s, URLs on %s", da, e.base)
	}
	polled := e.poll(t, da)

	b := e.browser(t)
	b.get(da.VerificationURIComplete)
	if _, fields, _ := parseForm(t, b.body); fields["user_code"] != da.UserCode || fields["csrf"] == "" {
		t.Fatalf("GET %s: form fields %v, want user_code %q prefilled and a csrf token", da.VerificationURIComplete, fields, da.UserCode)
	}
	b.submit(nil, "")
	b.submit(map[string]string{"user": "alice", "password": alicePassword}, "")
	if _, fields, _ := parseForm(t, b.body); b.page.StatusCode != http.StatusOK {
		t.Fatalf("POST /login (alice, right password) = %d, want 200 and the TOTP step", b.page.StatusCode)
	} else if _, ok := fields["code"]; !ok {
		t.Fatalf("POST /login (alice has TOTP): no code field on\n%s", b.body)
	}
	b.submit(map[string]string{"code": e.nextTOTP(t)}, "")
	if b.page.Request.URL.Path != pathConfirm {
		t.Fatalf("after TOTP at %s (%d), want %s:\n%s", b.page.Request.URL.Path, b.page.StatusCode, pathConfirm, b.body)
	}
	if got, want := textByID(t, b.body, "hostname"), "laptop-1"; got != want {
		t.Errorf("confirm page hostname = %q, want %q", got, want)
	}
	if got, want := textByID(t, b.body, "fingerprint"), controller.KeyFingerprint(key); got != want || want == "" {
		t.Errorf("confirm page fingerprint = %q, want %q", got, want)
	}
	select {
	case r := <-polled:
		t.Fatalf("PollToken returned before approval: %+v, %v", r.tok, r.err)
	default:
	}
	b.submit(nil, "approve")
	if b.page.Request.URL.Path != pathDone || !strings.Contains(textByID(t, b.body, "message"), "enrolled as yours and signed in") {
		t.Fatalf("after approve at %s (%d):\n%s", b.page.Request.URL.Path, b.page.StatusCode, b.body)
	}

	// One sign-in approves one device: the confirmation is gone, and the
	// next code asks for the password again.
	b.get(pathConfirm)
	if b.page.Request.URL.Path != pathDone {
		t.Errorf("GET /device/confirm after approving went to %s, want %s", b.page.Request.URL.Path, pathDone)
	}
	next, err := wire.StartDeviceAuthorization(ctx, e.hc, e.base, wire.DeviceAuthorizationForm{DeviceKey: newKey(t), Hostname: "laptop-2"})
	if err != nil {
		t.Fatal(err)
	}
	b.get(api.PathDevicePage)
	b.submit(map[string]string{"user_code": next.UserCode}, "")
	if b.page.Request.URL.Path != api.PathLogin {
		t.Errorf("a second code in the same browser went to %s, want %s (sign in again)", b.page.Request.URL.Path, api.PathLogin)
	}

	r := <-polled
	if r.err != nil {
		t.Fatalf("PollToken = %v, want tokens", r.err)
	}
	tok := r.tok
	if tok.User != "alice" || tok.TokenType != "Bearer" || tok.Device == nil || tok.Device.DeviceID != tok.DeviceID || tok.ExpiresIn <= 0 {
		t.Fatalf("PollToken = %+v, want alice's tokens for a newly enrolled device", tok)
	}
	dev, err := e.tc.core.Identity.Device(ctx, tok.DeviceID)
	if err != nil || dev.Owner != "alice" || dev.Hostname != "laptop-1" || dev.State != identity.StateApproved {
		t.Fatalf("Identity.Device(%q) = %+v, %v; want alice's approved laptop-1", tok.DeviceID, dev, err)
	}
	stored, err := e.tc.core.Devices.List(ctx, testOwner)
	if err != nil || len(stored) != 1 || stored[0].ID != tok.DeviceID || stored[0].PublicKey != key {
		t.Fatalf("devices = %+v, %v; want the one with the agent's key", stored, err)
	}
	sess, err := e.tc.core.Identity.Authenticate(ctx, tok.AccessToken, tok.DeviceID)
	if err != nil || sess.User != "alice" || len(sess.Methods) != 2 || sess.MFAAt.IsZero() {
		t.Fatalf("Authenticate(access, %s) = %+v, %v; want alice's session with pwd+otp", tok.DeviceID, sess, err)
	}
	if _, err := e.tc.core.Identity.Authenticate(ctx, tok.AccessToken, "dev_other"); !errors.Is(err, identity.ErrWrongDevice) {
		t.Errorf("Authenticate(access, another device) = %v, want ErrWrongDevice", err)
	}
	// The device code is spent: a replay (after the interval, so it is
	// not merely too fast) gets invalid_grant and changes nothing.
	time.Sleep(time.Duration(da.Interval) * time.Second)
	before := e.snapshot(t)
	res := postOAuth(t, e, api.PathToken, url.Values{"grant_type": {api.GrantTypeDeviceCode}, "client_id": {api.ClientAgent}, "device_code": {da.DeviceCode}})
	if res.status != http.StatusBadRequest || res.Error != api.OAuthInvalidGrant {
		t.Errorf("replayed device code = %d %+v, want 400 invalid_grant", res.status, res.OAuthError)
	}
	if after := e.snapshot(t); after != before {
		t.Errorf("replayed device code changed %+v to %+v", before, after)
	}
}

// TestDeviceFlowEnrolledDevice: an enrolled device names itself; its
// owner's sign-in gets it a session, another user's is denied with a
// description the agent sees.
func TestDeviceFlowEnrolledDevice(t *testing.T) {
	e := newSigninEnv(t, Config{}, identity.Config{})
	ctx := context.Background()
	et, _, err := e.tc.core.Enrollment.CreateToken(ctx, testOwner, api.EnrollmentTokenRequest{User: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	dev, _, err := e.tc.core.Enrollment.Enroll(ctx, api.EnrollRequest{Token: et.Token, PublicKey: newKey(t), Hostname: "bob-server"})
	if err != nil {
		t.Fatal(err)
	}

	enrolled := wire.DeviceAuthorizationForm{DeviceID: dev.ID}
	t.Run("another user is denied", func(t *testing.T) {
		b, r := e.signInDevice(t, enrolled, "alice", alicePassword, "approve")
		if b.page.StatusCode != http.StatusBadRequest || !strings.Contains(b.body, "belongs to another user") {
			t.Errorf("alice approving bob's device = %d, want 400 saying it belongs to another user:\n%s", b.page.StatusCode, b.body)
		}
		if !errors.Is(r.err, wire.ErrAccessDenied) || !strings.Contains(r.err.Error(), "belongs to another user") {
			t.Errorf("PollToken = %+v, %v; want ErrAccessDenied saying the device belongs to another user", r.tok, r.err)
		}
		if ss, _ := e.tc.core.Identity.Sessions(ctx, "alice"); len(ss) != 0 {
			t.Errorf("alice's sessions = %+v, want none", ss)
		}
	})
	t.Run("its owner signs in", func(t *testing.T) {
		b, r := e.signInDevice(t, enrolled, "bob", bobPassword, "approve")
		if b.page.StatusCode != http.StatusOK {
			t.Fatalf("bob approving his device = %d:\n%s", b.page.StatusCode, b.body)
		}
		if r.err != nil || r.tok.DeviceID != dev.ID || r.tok.User != "bob" || r.tok.Device != nil {
			t.Fatalf("PollToken = %+v, %v; want bob's tokens for %s, no enrollment", r.tok, r.err, dev.ID)
		}
		if _, err := e.tc.core.Identity.Authenticate(ctx, r.tok.AccessToken, dev.ID); err != nil {
			t.Errorf("Authenticate(access, %s) = %v", dev.ID, err)
		}
	})
	t.Run("denied by the person", func(t *testing.T) {
		before := e.snapshot(t)
		b, r := e.signInDevice(t, enrolled, "bob", bobPassword, "deny")
		if b.page.StatusCode != http.StatusOK {
			t.Fatalf("deny = %d", b.page.StatusCode)
		}
		if !errors.Is(r.err, wire.ErrAccessDenied) {
			t.Errorf("PollToken after deny = %v, want ErrAccessDenied", r.err)
		}
		if after := e.snapshot(t); after.sessions != before.sessions || after.devices != before.devices {
			t.Errorf("deny changed %+v to %+v", before, after)
		}
	})
}

// TestDeviceFlowEnrollsPending: with "new devices need approval" on, a
// sign-in enrolls the device pending; the agent still gets its tokens and
// is told the device (its state is the admin's to change).
func TestDeviceFlowEnrollsPending(t *testing.T) {
	e := newSigninEnv(t, Config{}, identity.Config{})
	ctx := context.Background()
	owner := identity.Principal{Kind: identity.PrincipalToken, Name: "test", Role: identity.Owner}
	if err := e.tc.core.Identity.SetNewDevicesNeedApproval(ctx, owner, true); err != nil {
		t.Fatal(err)
	}
	b, r := e.signInDevice(t, wire.DeviceAuthorizationForm{DeviceKey: newKey(t), Hostname: "new-laptop"}, "bob", bobPassword, "approve")
	if b.page.StatusCode != http.StatusOK || !strings.Contains(b.body, "waits for an admin") {
		t.Fatalf("approve = %d, want 200 saying the device waits for an admin:\n%s", b.page.StatusCode, b.body)
	}
	if r.err != nil || r.tok.Device == nil || r.tok.Device.User != "bob" {
		t.Fatalf("PollToken = %+v, %v; want tokens and the enrolled device", r.tok, r.err)
	}
	if err := e.tc.core.Identity.Admitted(ctx, r.tok.DeviceID); !errors.Is(err, identity.ErrDevicePending) {
		t.Errorf("Admitted(%s) = %v, want ErrDevicePending", r.tok.DeviceID, err)
	}
}

// oauthResult is an OAuth endpoint's answer.
type oauthResult struct {
	status int
	api.OAuthError
	header http.Header
}

func postOAuth(t testing.TB, e *signinEnv, path string, v url.Values) oauthResult {
	t.Helper()
	return postRaw(t, e, path, "application/x-www-form-urlencoded", v.Encode())
}

func postRaw(t testing.TB, e *signinEnv, path, contentType, body string) oauthResult {
	t.Helper()
	res, err := e.hc.Post(e.base+path, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := oauthResult{status: res.StatusCode, header: res.Header}
	json.Unmarshal(raw, &out.OAuthError)
	return out
}

// TestSignInBadInput: every bad request to the OAuth endpoints gets a
// clear 4xx with an OAuth error and changes nothing.
func TestSignInBadInput(t *testing.T) {
	e := newSigninEnv(t, Config{}, identity.Config{})
	ctx := context.Background()
	// A pending code the bad token requests must leave alone.
	pending, err := wire.StartDeviceAuthorization(ctx, e.hc, e.base, wire.DeviceAuthorizationForm{DeviceKey: newKey(t), Hostname: "pc"})
	if err != nil {
		t.Fatal(err)
	}
	key := newKey(t)
	form := "application/x-www-form-urlencoded"
	tests := []struct {
		name, path, ctype, body string
		wantStatus              int
		wantCode                string
	}{
		{"malformed form", api.PathDeviceAuthorization, form, "client_id=%zz", 400, api.OAuthInvalidRequest},
		{"JSON body", api.PathDeviceAuthorization, "application/json", `{"client_id":"gatehouse-agent"}`, 400, api.OAuthInvalidRequest},
		{"no client_id", api.PathDeviceAuthorization, form, "hostname=pc&device_key=" + url.QueryEscape(key), 400, api.OAuthInvalidRequest},
		{"wrong client_id", api.PathDeviceAuthorization, form, "client_id=evil&hostname=pc&device_key=" + url.QueryEscape(key), 401, api.OAuthInvalidClient},
		{"client_id twice", api.PathDeviceAuthorization, form, "client_id=gatehouse-agent&client_id=gatehouse-agent&hostname=pc&device_key=" + url.QueryEscape(key), 400, api.OAuthInvalidRequest},
		{"no device", api.PathDeviceAuthorization, form, "client_id=gatehouse-agent", 400, api.OAuthInvalidRequest},
		{"device_id and key", api.PathDeviceAuthorization, form, "client_id=gatehouse-agent&device_id=dev_x&hostname=pc&device_key=" + url.QueryEscape(key), 400, api.OAuthInvalidRequest},
		{"unknown device_id", api.PathDeviceAuthorization, form, "client_id=gatehouse-agent&device_id=dev_nope", 400, api.OAuthInvalidRequest},
		{"key not base64", api.PathDeviceAuthorization, form, "client_id=gatehouse-agent&hostname=pc&device_key=***", 400, api.OAuthInvalidRequest},
		{"key too short", api.PathDeviceAuthorization, form, "client_id=gatehouse-agent&hostname=pc&device_key=AAAA", 400, api.OAuthInvalidRequest},
		{"hostname with escapes", api.PathDeviceAuthorization, form, "client_id=gatehouse-agent&hostname=%1b%5b31m&device_key=" + url.QueryEscape(key), 400, api.OAuthInvalidRequest},
		{"oversized", api.PathDeviceAuthorization, form, "client_id=gatehouse-agent&hostname=" + strings.Repeat("a", 5000), 413, api.OAuthInvalidRequest},
		{"token: malformed form", api.PathToken, form, "grant_type=%zz", 400, api.OAuthInvalidRequest},
		{"token: no grant_type", api.PathToken, form, "client_id=gatehouse-agent&device_code=" + pending.DeviceCode, 400, api.OAuthInvalidRequest},
		{"token: refresh grant", api.PathToken, form, "grant_type=refresh_token&client_id=gatehouse-agent&refresh_token=ghr_x", 400, api.OAuthUnsupportedGrantType},
		{"token: wrong client_id", api.PathToken, form, "grant_type=" + url.QueryEscape(api.GrantTypeDeviceCode) + "&client_id=evil&device_code=" + pending.DeviceCode, 401, api.OAuthInvalidClient},
		{"token: no device_code", api.PathToken, form, "grant_type=" + url.QueryEscape(api.GrantTypeDeviceCode) + "&client_id=gatehouse-agent", 400, api.OAuthInvalidRequest},
		{"token: unknown device_code", api.PathToken, form, "grant_type=" + url.QueryEscape(api.GrantTypeDeviceCode) + "&client_id=gatehouse-agent&device_code=nope", 400, api.OAuthInvalidGrant},
		{"token: device_code twice", api.PathToken, form, "grant_type=" + url.QueryEscape(api.GrantTypeDeviceCode) + "&client_id=gatehouse-agent&device_code=a&device_code=b", 400, api.OAuthInvalidRequest},
		{"token: oversized", api.PathToken, form, "grant_type=" + strings.Repeat("a", 5000), 413, api.OAuthInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.snapshot(t)
			res := postRaw(t, e, tt.path, tt.ctype, tt.body)
			if res.status != tt.wantStatus || res.Error != tt.wantCode || res.Description == "" {
				t.Errorf("POST %s (%s) = %d %+v, want %d %s with a description", tt.path, tt.name, res.status, res.OAuthError, tt.wantStatus, tt.wantCode)
			}
			if res.header.Get("Cache-Control") != "no-store" {
				t.Errorf("POST %s (%s): Cache-Control %q, want no-store", tt.path, tt.name, res.header.Get("Cache-Control"))
			}
			if after := e.snapshot(t); after != before {
				t.Errorf("POST %s (%s) changed %+v to %+v", tt.path, tt.name, before, after)
			}
		})
	}
	// The pending code is untouched by all that: still pending, and
	// its first poll is not a slow_down.
	res := postOAuth(t, e, api.PathToken, url.Values{"grant_type": {api.GrantTypeDeviceCode}, "client_id": {api.ClientAgent}, "device_code": {pending.DeviceCode}})
	if res.status != 400 || res.Error != api.OAuthAuthorizationPending {
		t.Errorf("poll of the pending code after the bad requests = %d %+v, want authorization_pending", res.status, res.OAuthError)
	}
}

// TestDeviceFlowSlowDownAndExpiry: polling faster than the interval gets
// slow_down; a code nobody approves expires (expired_token, which the
// wire client reports as ErrCodeExpired).
func TestDeviceFlowSlowDownAndExpiry(t *testing.T) {
	e := newSigninEnv(t, Config{SignIn: SignInConfig{DeviceFlow: controller.DeviceFlowConfig{Interval: time.Second, Lifetime: 3 * time.Second}}}, identity.Config{})
	ctx := context.Background()
	da, err := wire.StartDeviceAuthorization(ctx, e.hc, e.base, wire.DeviceAuthorizationForm{DeviceKey: newKey(t), Hostname: "pc"})
	if err != nil {
		t.Fatal(err)
	}
	v := url.Values{"grant_type": {api.GrantTypeDeviceCode}, "client_id": {api.ClientAgent}, "device_code": {da.DeviceCode}}
	if res := postOAuth(t, e, api.PathToken, v); res.Error != api.OAuthAuthorizationPending {
		t.Fatalf("first poll = %+v, want authorization_pending", res.OAuthError)
	}
	if res := postOAuth(t, e, api.PathToken, v); res.status != 400 || res.Error != api.OAuthSlowDown {
		t.Fatalf("second poll at once = %d %+v, want slow_down", res.status, res.OAuthError)
	}
	time.Sleep(3 * time.Second)
	if res := postOAuth(t, e, api.PathToken, v); res.Error != api.OAuthExpiredToken {
		t.Fatalf("poll after the lifetime = %+v, want expired_token", res.OAuthError)
	}

	da, err = wire.StartDeviceAuthorization(ctx, e.hc, e.base, wire.DeviceAuthorizationForm{DeviceKey: newKey(t), Hostname: "pc"})
	if err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := wire.PollToken(pctx, e.hc, e.base, da.DeviceCode, da.Interval); !errors.Is(err, wire.ErrCodeExpired) {
		t.Errorf("PollToken on a code nobody approves = %v, want ErrCodeExpired", err)
	}
	// The code cannot be approved after it expired.
	b := e.browser(t)
	b.get(api.PathDevicePage)
	b.submit(map[string]string{"user_code": da.UserCode}, "")
	if b.page.StatusCode != http.StatusBadRequest || !strings.Contains(b.body, "unknown, expired or used already") {
		t.Errorf("entering an expired code = %d, want 400 saying so:\n%s", b.page.StatusCode, b.body)
	}
}

// TestSignInRateLimits: the device authorization and token endpoints
// and the pages refuse a source over its bucket with 429 and Retry-After, and the
// refused request holds no code.
func TestSignInRateLimits(t *testing.T) {
	one := Rate{Every: time.Hour, Burst: 2}
	e := newSigninEnv(t, Config{SignIn: SignInConfig{DeviceAuth: one, Token: one, Pages: one}}, identity.Config{})
	ctx := context.Background()
	for i := range 2 {
		if _, err := wire.StartDeviceAuthorization(ctx, e.hc, e.base, wire.DeviceAuthorizationForm{DeviceKey: newKey(t), Hostname: "pc"}); err != nil {
			t.Fatalf("device authorization %d = %v", i, err)
		}
	}
	before := e.snapshot(t)
	res := postOAuth(t, e, api.PathDeviceAuthorization, url.Values{"client_id": {api.ClientAgent}, "device_key": {newKey(t)}, "hostname": {"pc"}})
	if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" {
		t.Errorf("third device authorization = %d (Retry-After %q), want 429 with Retry-After", res.status, res.header.Get("Retry-After"))
	}
	if after := e.snapshot(t); after != before {
		t.Errorf("rate-limited request changed %+v to %+v", before, after)
	}
	v := url.Values{"grant_type": {api.GrantTypeDeviceCode}, "client_id": {api.ClientAgent}, "device_code": {"x"}}
	for range 2 {
		postOAuth(t, e, api.PathToken, v)
	}
	if res := postOAuth(t, e, api.PathToken, v); res.status != http.StatusTooManyRequests {
		t.Errorf("third token request = %d, want 429", res.status)
	}
	b := e.browser(t)
	for range 2 {
		b.get(api.PathDevicePage)
	}
	if res := b.get(api.PathDevicePage); res.StatusCode != http.StatusTooManyRequests || res.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("third page = %d (X-Frame-Options %q), want 429 with the page headers", res.StatusCode, res.Header.Get("X-Frame-Options"))
	}
}

// TestDeviceFlowCodeCap: the flow holds at most MaxPending codes; one
// more is refused with 503 temporarily_unavailable.
func TestDeviceFlowCodeCap(t *testing.T) {
	e := newSigninEnv(t, Config{SignIn: SignInConfig{DeviceFlow: controller.DeviceFlowConfig{MaxPending: 3}}}, identity.Config{})
	ctx := context.Background()
	for range 3 {
		if _, err := wire.StartDeviceAuthorization(ctx, e.hc, e.base, wire.DeviceAuthorizationForm{DeviceKey: newKey(t), Hostname: "pc"}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := wire.StartDeviceAuthorization(ctx, e.hc, e.base, wire.DeviceAuthorizationForm{DeviceKey: newKey(t), Hostname: "pc"})
	if oe, ok := errors.AsType[*wire.OAuthError](err); !ok || oe.Status != http.StatusServiceUnavailable || oe.Code != controller.OAuthTemporarilyUnavailable {
		t.Errorf("fourth code with a cap of 3 = %v, want 503 temporarily_unavailable", err)
	}
	if n := e.signIn().flow.Held(); n != 3 {
		t.Errorf("codes held = %d, want 3", n)
	}
}

// TestSignInConfig: zero takes the defaults; values that would switch a
// control off or break the flow are refused before anything starts.
func TestSignInConfig(t *testing.T) {
	tests := []struct {
		name    string
		in      SignInConfig
		wantErr string
	}{
		{name: "zero", in: SignInConfig{}},
		{name: "negative rate", in: SignInConfig{Token: Rate{Every: -time.Second, Burst: 1}}, wantErr: "token rate limit"},
		{name: "zero burst", in: SignInConfig{Pages: Rate{Every: time.Second}}, wantErr: "sign-in pages rate limit"},
		{name: "sub-second interval", in: SignInConfig{DeviceFlow: controller.DeviceFlowConfig{Interval: 500 * time.Millisecond}}, wantErr: "at least 1s"},
		{name: "interval past lifetime", in: SignInConfig{DeviceFlow: controller.DeviceFlowConfig{Interval: 2 * time.Second, Lifetime: time.Second}}, wantErr: "less than the code lifetime"},
		{name: "negative cap", in: SignInConfig{DeviceFlow: controller.DeviceFlowConfig{MaxPending: -1}}, wantErr: "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Config{Listen: "127.0.0.1:0", SignIn: tt.in}.Check()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Check(%+v) = %v, want error containing %q", tt.in, err, tt.wantErr)
			}
		})
	}
}
