package oidc

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Defaults for a Config's zero fields.
const (
	DefaultGroupsClaim = "groups"
	// DefaultUsernameClaim names users by their (verified) email.
	DefaultUsernameClaim = "email"
	// PendingTTL is how long a started sign-in waits for its callback.
	PendingTTL = 10 * time.Minute
	// MaxPending bounds the sign-ins waiting for their callback; past it
	// the oldest is dropped (its user starts again).
	MaxPending = 10000
	// maxGroups bounds the groups one token may name; more is refused.
	maxGroups = 1000
	// rediscoverEvery is how often an unavailable provider is asked again.
	rediscoverEvery = 30 * time.Second
)

// CallbackPath is where the controller's sign-in pages take the IdP's
// callback (the redirect URL registered at the IdP ends with it).
const CallbackPath = "/oidc/callback"

// DefaultScopes are asked for when Config.Scopes is empty: offline_access
// brings the refresh token that lets groups follow the IdP between
// sign-ins. Google refuses offline_access: give it "openid,email,profile".
var DefaultScopes = []string{"openid", "profile", "email", "offline_access"}

// Config is one upstream identity provider, as registered there.
type Config struct {
	// Name is what the sign-in button says ("Sign in with NAME"); default
	// the issuer's host.
	Name string
	// Issuer is the IdP's issuer URL (https; discovery is at
	// ISSUER/.well-known/openid-configuration).
	Issuer string
	// ClientID and ClientSecret are this controller's registration at the
	// IdP. The secret comes from a file or the environment, never argv.
	ClientID     string
	ClientSecret string
	// RedirectURL is the controller's callback URL, as registered.
	RedirectURL string
	// Scopes asked for (default DefaultScopes; "openid" is always added).
	Scopes []string
	// GroupsClaim is the claim holding the user's IdP groups (default
	// "groups"): read from the ID token, or from userinfo when absent.
	GroupsClaim string
	// GroupMap maps IdP groups onto Gatehouse groups. The Gatehouse groups
	// named here follow the IdP at every sign-in and refresh; IdP groups
	// not named are ignored, unless PassThroughGroups.
	GroupMap map[string]string
	// PassThroughGroups makes an IdP group that GroupMap does not name a
	// Gatehouse group of the same name (those that are valid names).
	PassThroughGroups bool
	// AllowedEmailDomains, when not empty, admits only users whose
	// verified email is in one of these domains (exact match).
	AllowedEmailDomains []string
	// UsernameClaim names the Gatehouse user made at the first sign-in
	// (default "email", which must then be verified; or e.g.
	// "preferred_username").
	UsernameClaim string
	// HTTPClient talks to the IdP (default: http.DefaultClient with a 10 s
	// timeout). Set it to trust a private CA.
	HTTPClient *http.Client
}

func (c Config) withDefaults() (Config, error) {
	u, err := url.Parse(c.Issuer)
	switch {
	case c.Issuer == "":
		return c, errors.New("oidc: no issuer: give the IdP's issuer URL (--oidc-issuer)")
	case err != nil || u.Host == "" || (u.Scheme != "https" && !loopbackHTTP(u)):
		return c, fmt.Errorf("oidc: issuer %q: give an https URL (plain http only on loopback, for tests)", c.Issuer)
	case c.ClientID == "":
		return c, fmt.Errorf("oidc %s: no client ID: register the controller at the IdP and give its client ID (--oidc-client-id)", c.Issuer)
	case c.RedirectURL == "":
		return c, fmt.Errorf("oidc %s: no redirect URL: give this controller's callback URL as registered at the IdP (--oidc-redirect-url)", c.Issuer)
	}
	if r, err := url.Parse(c.RedirectURL); err != nil || r.Host == "" || (r.Scheme != "https" && !loopbackHTTP(r)) {
		return c, fmt.Errorf("oidc %s: redirect URL %q: give an absolute https URL", c.Issuer, c.RedirectURL)
	}
	if c.Name == "" {
		c.Name = u.Host
	}
	if len(c.Scopes) == 0 {
		c.Scopes = DefaultScopes
	}
	if !slices.Contains(c.Scopes, "openid") {
		c.Scopes = append([]string{"openid"}, c.Scopes...)
	}
	if c.GroupsClaim == "" {
		c.GroupsClaim = DefaultGroupsClaim
	}
	if c.UsernameClaim == "" {
		c.UsernameClaim = DefaultUsernameClaim
	}
	domains := make([]string, 0, len(c.AllowedEmailDomains))
	for _, d := range c.AllowedEmailDomains {
		if d = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(d, "@"))); d != "" {
			domains = append(domains, d)
		}
	}
	c.AllowedEmailDomains = domains
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	return c, nil
}

func loopbackHTTP(u *url.URL) bool {
	h := u.Hostname()
	return u.Scheme == "http" && (h == "localhost" || h == "127.0.0.1" || h == "::1")
}
