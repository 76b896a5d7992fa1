package browsertest

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-ztna/gatehouse/internal/testenv"
)

// Executables tried, in order, to find Chromium.
var Executables = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// Options set a browser up.
type Options struct {
	// Trust are the server certificates (leaves) the browser accepts
	// although no CA it knows signed them: pinned by their public key
	// (--ignore-certificate-errors-spki-list), every other certificate
	// error still fails the page.
	Trust []*x509.Certificate
	// Timeout bounds the whole browser session (default 2 minutes).
	Timeout time.Duration
}

// Browser is one headless Chromium with one tab, closed when the test
// ends.
type Browser struct {
	ctx context.Context // the tab's
}

// Find returns the path of a Chromium executable.
func Find() (string, error) {
	for _, name := range Executables {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no Chromium found (looked for " + strings.Join(Executables, ", ") + "): apt-get install chromium")
}

// New starts Chromium headless for t, or skips t (fails it under
// GATEHOUSE_TEST_STRICT) when there is none.
func New(t testing.TB, opt Options) *Browser {
	t.Helper()
	path, err := Find()
	if err != nil {
		testenv.SkipOrFail(t, err.Error())
	}
	if opt.Timeout == 0 {
		opt.Timeout = 2 * time.Minute
	}
	var pins []string
	for _, c := range opt.Trust {
		pins = append(pins, SPKIHash(c))
	}
	flags := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()), // Chromium honours the SPKI list only with its own profile
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox, // tests run as root in containers
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
	}
	if len(pins) > 0 {
		flags = append(flags, chromedp.Flag("ignore-certificate-errors-spki-list", strings.Join(pins, ",")))
	}
	ctx, cancelTimeout := context.WithTimeout(context.Background(), opt.Timeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, flags...)
	tabCtx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		cancelTimeout()
	})
	if err := chromedp.Do(tabCtx); err != nil { // starts the browser and its tab
		t.Fatalf("start %s: %v", path, err)
	}
	return &Browser{ctx: tabCtx}
}

// Context is the tab's context for chromedp calls.
func (b *Browser) Context() context.Context { return b.ctx }

// Do runs actions in the tab, failing t with what if one fails.
func (b *Browser) Do(t testing.TB, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		t.Fatalf("browser: %s: %v", what, err)
	}
}

// AddVirtualAuthenticator gives the tab a platform authenticator (CTAP2,
// internal transport) that holds discoverable credentials and verifies
// its user (as a fingerprint would), answering at once.
func (b *Browser) AddVirtualAuthenticator(t testing.TB) webauthn.AuthenticatorID {
	t.Helper()
	if _, err := chromedp.Call(b.ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("browser: WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(b.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		},
	})
	if err != nil {
		t.Fatalf("browser: WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return res.AuthenticatorID
}

// Credentials are the credentials the virtual authenticator id holds.
func (b *Browser) Credentials(t testing.TB, id webauthn.AuthenticatorID) []*webauthn.Credential {
	t.Helper()
	res, err := chromedp.Call(b.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
	if err != nil {
		t.Fatalf("browser: WebAuthn.getCredentials: %v", err)
	}
	return res.Credentials
}

// SPKIHash is the pin Chromium's --ignore-certificate-errors-spki-list
// takes: base64 of the SHA-256 of the certificate's public key info.
func SPKIHash(c *x509.Certificate) string {
	h := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(h[:])
}
