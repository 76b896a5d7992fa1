package httpapi

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/internal/browsertest"
)

// The device flow (gatehouse login) finished in headless Chromium: a
// wire client starts a device authorization for a new device, Chromium
// opens the verification URL, alice signs in (with her passkey only, or
// with password and TOTP), approves, and the poll gets tokens that
// authenticate for that device with the sign-in's methods.

// TestDeviceFlowPasskeyInHeadlessChromium: "Sign in with a passkey" on
// /login signs the device in: methods [webauthn] with MFA.
func TestDeviceFlowPasskeyInHeadlessChromium(t *testing.T) {
	pc, b := startPasskeyBrowser(t)
	addPasskeyInBrowser(t, pc, b)

	da, polled := pc.startDeviceFlow(t, "passkey-laptop")
	start := time.Now()
	b.Do(t, "enter the code",
		chromedp.Navigate(da.VerificationURIComplete),
		chromedp.Click(chromedp.CSS(`form[action="/device"] button`)),
		chromedp.WaitVisible(chromedp.ID("passkey-signin-button")),
	)
	if _, err := chromedp.Run(b.Context(), chromedp.Text(chromedp.ID("password"))); err != nil {
		t.Fatalf("/login has no password field beside the passkey button: %v", err)
	}
	b.Do(t, "sign in with the passkey only", chromedp.Click(chromedp.ID("passkey-signin-button")))
	pc.awaitConfirm(t, b)
	t.Logf("passkey sign-in in the device flow, code entered → confirm page: %v", time.Since(start))
	pc.approve(t, b, da, polled, "passkey-laptop", []string{"webauthn"})
}

// TestDeviceFlowPasswordTOTPInHeadlessChromium: the password and TOTP
// forms sign the device in: methods [pwd otp] with MFA.
func TestDeviceFlowPasswordTOTPInHeadlessChromium(t *testing.T) {
	pc, b := startPasskeyBrowser(t)

	da, polled := pc.startDeviceFlow(t, "totp-laptop")
	b.Do(t, "enter the code, user name and password, then the TOTP code",
		chromedp.Navigate(da.VerificationURIComplete),
		chromedp.Click(chromedp.CSS(`form[action="/device"] button`)),
		chromedp.WaitVisible(chromedp.ID("password")),
		chromedp.SendKeys(chromedp.ID("user"), "alice"),
		chromedp.SendKeys(chromedp.ID("password"), alicePassword),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/login/totp"]`)),
		chromedp.SendKeys(chromedp.ID("code"), pc.nextCode(t)),
		chromedp.Click(chromedp.CSS(`form[action="/login/totp"] button`)),
	)
	pc.awaitConfirm(t, b)
	pc.approve(t, b, da, polled, "totp-laptop", []string{"pwd", "otp"})
}

// startDeviceFlow starts a device authorization for a new device named
// hostname, as gatehouse login does, and polls for its tokens.
func (pc *passkeyController) startDeviceFlow(t *testing.T, hostname string) (api.DeviceAuthorization, <-chan pollResult) {
	t.Helper()
	hc, da := pc.startCode(t, hostname)
	if !strings.HasPrefix(da.VerificationURIComplete, pc.origin+api.PathDevicePage+"?user_code=") {
		t.Fatalf("verification URL %q, want %s%s?user_code=…", da.VerificationURIComplete, pc.origin, api.PathDevicePage)
	}
	return da, pollToken(t, hc, pc.origin, da)
}

// awaitConfirm waits (30 s at most) for b to reach the device's
// confirmation page, and fails t with where b is instead.
func (pc *passkeyController) awaitConfirm(t *testing.T, b *browsertest.Browser) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.Context(), 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("approve"))); err != nil {
		loc, _ := chromedp.Run(b.Context(), chromedp.Location())
		status, _ := chromedp.Run(b.Context(), chromedp.Evaluate[string](`(document.getElementById("passkey-status") || document.body).textContent`))
		t.Fatalf("after signing in the browser is at %s, not %s (%v); page says %q", loc, pathConfirm, err, strings.TrimSpace(status))
	}
}

// approve checks the confirmation page shows alice and the device named
// hostname, approves it, and checks the poll's tokens authenticate for
// that device with methods and MFA.
func (pc *passkeyController) approve(t *testing.T, b *browsertest.Browser, da api.DeviceAuthorization, polled <-chan pollResult, hostname string, methods []string) {
	t.Helper()
	if got := mustText(t, b, "signed-in-user"); got != "alice" {
		t.Errorf("the confirmation page says signed in as %q, want alice", got)
	}
	if got := mustText(t, b, "hostname"); got != hostname {
		t.Errorf("the confirmation page shows hostname %q, want %q", got, hostname)
	}
	b.Do(t, "approve the device",
		chromedp.Click(chromedp.ID("approve")),
		chromedp.WaitVisible(chromedp.ID("message")),
	)
	if got := mustText(t, b, "message"); !strings.Contains(got, "enrolled as yours") {
		t.Errorf("the outcome page says %q, want the device enrolled", got)
	}
	var res pollResult
	select {
	case res = <-polled:
	case <-time.After(time.Duration(da.Interval+10) * time.Second):
		t.Fatalf("no tokens %d s after the approval", da.Interval+10)
	}
	if res.err != nil {
		t.Fatalf("PollToken = %v, want tokens", res.err)
	}
	if res.tok.User != "alice" || res.tok.DeviceID == "" {
		t.Fatalf("tokens for user %q device %q, want alice and the new device", res.tok.User, res.tok.DeviceID)
	}
	sess, err := pc.core.Identity.Authenticate(t.Context(), res.tok.AccessToken, res.tok.DeviceID)
	if err != nil {
		t.Fatalf("Authenticate(the device's access token, %s) = %v", res.tok.DeviceID, err)
	}
	if sess.User != "alice" || sess.Device != res.tok.DeviceID || !slices.Equal(sess.Methods, methods) || sess.MFAAt.IsZero() {
		t.Errorf("the device's session = user %q device %q methods %v MFA at %v, want alice, %s, %v and MFA",
			sess.User, sess.Device, sess.Methods, sess.MFAAt, res.tok.DeviceID, methods)
	}
}
