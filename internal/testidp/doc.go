// Package testidp is a real OpenID Provider in process, for tests only:
// github.com/zitadel/oidc's op over a small in-memory storage, served over
// TLS on loopback (httptest), with a plain HTML login form. Tests add
// clients and users (New, AddClient, AddUser), change a user's groups or
// disable them (SetGroups, Disable), drive a sign-in as a browser would
// (Login), and tamper with what the token endpoint answers
// (OnTokenResponse, ResignIDToken) to prove the relying party refuses it.
//
// Imported by tests only (controller/identity/oidc, controller/identity,
// and the end-to-end harness).
package testidp
