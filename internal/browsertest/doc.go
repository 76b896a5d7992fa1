// Package browsertest starts Debian's Chromium headless for end-to-end
// tests of the controller's pages (chromedp over the DevTools protocol):
// it trusts only the certificates a test names (by SPKI pin), and can
// give a tab Chromium's virtual WebAuthn authenticator so passkey
// ceremonies run for real without a person. Without Chromium a test
// skips, or fails under GATEHOUSE_TEST_STRICT (internal/testenv).
// Imported by tests only.
package browsertest
