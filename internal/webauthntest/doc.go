// Package webauthntest is a software WebAuthn authenticator for tests:
// it answers a relying party's creation and request options (the JSON
// navigator.credentials takes) with attestation "none" and ES256
// assertions, as a browser with a passkey would, and lets a test break
// what a real one never would (another origin or RP ID, no user
// verification, a signature counter going backwards). Only tests import it.
package webauthntest
