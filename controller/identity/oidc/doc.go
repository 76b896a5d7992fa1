// Package oidc is the controller's relying party for upstream OpenID
// Connect identity providers (Okta, Entra ID, Google, Keycloak…), over
// github.com/coreos/go-oidc and golang.org/x/oauth2.
//
// A Provider starts a sign-in (Begin: authorization code flow with state,
// nonce and PKCE S256, held in memory, single use, 10 minutes), finishes
// it (Callback: the ID token's signature, issuer, audience, expiry and
// nonce verified; email domain and verification checked; groups mapped
// onto Gatehouse groups) and refreshes it upstream (Refresh). What it
// returns is a *Verified, which only this package makes: the identity room
// (controller/identity) turns one into a sign-in Proof. It knows nothing
// of sessions, users or HTTP handlers.
//
// Imported by controller/identity (and cmd/gatehouse-controller, which
// builds Providers from its flags). It imports no package of the module.
package oidc
