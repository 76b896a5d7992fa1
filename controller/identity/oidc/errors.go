package oidc

import "errors"

// Errors of a Provider, wrapped with a sentence saying what to do; test
// with errors.Is.
var (
	// ErrUnavailable: the IdP could not be reached (discovery, token or
	// userinfo endpoint down, or a 5xx). Nothing was decided; try later.
	ErrUnavailable = errors.New("identity provider unavailable")
	// ErrBadState: the callback's state is unknown, spent or expired.
	ErrBadState = errors.New("sign-in not started here, already finished, or too old")
	// ErrRefused: the IdP refused (an error answer, a revoked or expired
	// refresh token), or what it sent did not verify (signature, issuer,
	// audience, nonce, expiry, subject).
	ErrRefused = errors.New("identity provider sign-in refused")
	// ErrEmailNotVerified: the email is needed (name, domain check) and
	// the IdP does not say it is verified.
	ErrEmailNotVerified = errors.New("email not verified by the identity provider")
	// ErrDomainNotAllowed: the email's domain is not an allowed one.
	ErrDomainNotAllowed = errors.New("email domain not allowed")
	// ErrNoUsername: the claim that names users is missing.
	ErrNoUsername = errors.New("no user name in the identity provider's answer")
)
