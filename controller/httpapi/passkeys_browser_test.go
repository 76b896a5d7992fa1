package httpapi

import (
	"crypto/x509"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-ztna/gatehouse/controller/identity"
	"github.com/gatehouse-ztna/gatehouse/internal/browsertest"
)

// TestPasskeyInHeadlessChromium: alice signs in with password and code in
// the account page, adds a passkey with Chromium's virtual authenticator,
// then, with a fresh browser session, signs in with the passkey alone →
// an identity session with method webauthn and MFA. (The device flow's
// passkey sign-in: TestDeviceFlowPasskeyInHeadlessChromium.)
func TestPasskeyInHeadlessChromium(t *testing.T) {
	pc, b := startPasskeyBrowser(t)
	addPasskeyInBrowser(t, pc, b)
	start := time.Now()
	b.Do(t, "sign in with the passkey only",
		chromedp.Navigate(pc.origin+PathPasskeyLogin),
		chromedp.Click(chromedp.ID("passkey-signin-button")),
		chromedp.WaitVisible(chromedp.ID("signed-in")),
	)
	t.Logf("passkey sign-in in the browser: %v", time.Since(start))
	if got := mustText(t, b, "methods"); got != "webauthn" {
		t.Errorf("after the passkey sign-in the page says methods %q, want webauthn", got)
	}
	if got := mustText(t, b, "user"); got != "alice" {
		t.Errorf("after the passkey sign-in the page says user %q, want alice", got)
	}
	sessions, err := pc.core.Identity.Sessions(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(sessions, func(s identity.Session) bool {
		return slices.Equal(s.Methods, []string{"webauthn"}) && s.RevokedAt.IsZero()
	})
	if i < 0 || sessions[i].MFAAt.IsZero() {
		t.Fatalf("alice's sessions = %+v, want a live one with methods [webauthn] and MFA", sessions)
	}
	if keys, _ := pc.core.Identity.Passkeys(t.Context(), "alice"); len(keys) != 1 || keys[0].LastUsedAt.IsZero() {
		t.Errorf("after the sign-in Passkeys(alice) = %+v, want laptop with a last use", keys)
	}
}

// startPasskeyBrowser starts a passkey controller and a headless
// Chromium that trusts it.
func startPasskeyBrowser(t *testing.T) (*passkeyController, *browsertest.Browser) {
	t.Helper()
	pc := startPasskeyController(t)
	return pc, browsertest.New(t, browsertest.Options{Trust: []*x509.Certificate{pc.leaf}})
}

// addPasskeyInBrowser gives b a virtual authenticator, signs alice in on
// the account page with password and code, adds the passkey "laptop",
// signs out and clears b's cookies: b is a browser that holds alice's
// passkey and no session.
func addPasskeyInBrowser(t *testing.T, pc *passkeyController, b *browsertest.Browser) {
	t.Helper()
	authID := b.AddVirtualAuthenticator(t)
	b.Do(t, "sign in with password and code",
		chromedp.Navigate(pc.origin+PathAccount),
		chromedp.SendKeys(chromedp.ID("user-field"), "alice"),
		chromedp.SendKeys(chromedp.ID("password-field"), alicePassword),
		chromedp.SendKeys(chromedp.ID("code-field"), pc.nextCode(t)),
		chromedp.Click(chromedp.ID("password-submit")),
		chromedp.WaitVisible(chromedp.ID("signed-in")),
	)
	if methods := mustText(t, b, "methods"); methods != "pwd+otp" {
		t.Fatalf("after the password sign-in the page says methods %q, want pwd+otp", methods)
	}
	start := time.Now()
	b.Do(t, "add a passkey",
		chromedp.SendKeys(chromedp.ID("passkey-name"), "laptop"),
		chromedp.Click(chromedp.ID("passkey-add-button")),
		chromedp.WaitVisible(chromedp.CSS("#passkeys .passkey .name")),
	)
	t.Logf("passkey registration in the browser: %v", time.Since(start))
	if listed := mustText(t, b, "passkeys"); !strings.Contains(listed, "laptop") {
		t.Errorf("the account page lists %q, want the passkey laptop", listed)
	}
	if creds := b.Credentials(t, authID); len(creds) != 1 || !creds[0].IsResidentCredential {
		t.Fatalf("the virtual authenticator holds %+v, want one discoverable credential", creds)
	}
	keys, err := pc.core.Identity.Passkeys(t.Context(), "alice")
	if err != nil || len(keys) != 1 || keys[0].Name != "laptop" {
		t.Fatalf("Passkeys(alice) = %+v, %v; want laptop", keys, err)
	}
	// A new browser session (no cookies), the same authenticator.
	b.Do(t, "sign out",
		chromedp.Click(chromedp.ID("sign-out")),
		chromedp.WaitVisible(chromedp.ID("password-form")),
	)
	if _, err := chromedp.Call(b.Context(), network.ClearBrowserCookies, cdp.Empty{}); err != nil {
		t.Fatalf("browser: clear cookies: %v", err)
	}
}

// mustText is the text of the element with id.
func mustText(t *testing.T, b *browsertest.Browser, id string) string {
	t.Helper()
	s, err := chromedp.Run(b.Context(), chromedp.Text(chromedp.ID(id)))
	if err != nil {
		t.Fatalf("browser: text of #%s: %v", id, err)
	}
	return strings.TrimSpace(s)
}
