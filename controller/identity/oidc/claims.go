package oidc

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Bounds on the claims kept for policy (Verified.Claims): an IdP, or a
// user who edits some of their own profile there, must not be able to
// make storage or decisions costly with many or huge claims.
const (
	MaxClaims          = 64
	MaxClaimKeyBytes   = 64
	MaxClaimValueBytes = 256
)

// protocolClaims mean something to the OIDC exchange, nothing to policy:
// they change at every sign-in or name the token, not the user.
var protocolClaims = map[string]bool{
	"aud": true, "azp": true, "exp": true, "iat": true, "nbf": true, "nonce": true,
	"at_hash": true, "c_hash": true, "sid": true, "auth_time": true, "jti": true,
	// The client the token was issued to, and its scopes (some IdPs,
	// zitadel among them, put them in ID tokens): about the token.
	"client_id": true, "scope": true,
}

// firstClaims are kept before any other claim (within the value bounds),
// so a flood of other claims cannot push them out.
var firstClaims = []string{"iss", "sub", "email", "email_verified", "name"}

// policyClaims are the claims in raw a policy condition may read
// (user.claims), as strings: top-level strings as they are, booleans as
// "true"/"false", numbers as the IdP wrote them. Lists, objects and null
// are not kept (a list joined into one string would be ambiguous; lists
// of groups reach policy through the groups claim). Protocol claims are
// left out; a key or value that is too long, or not printable UTF-8, is
// dropped whole — never cut, so a condition cannot match a prefix. At
// most MaxClaims are kept: firstClaims, then the rest in key order.
// dropped counts the claims left out for their type, size or number
// (protocol claims are not counted).
func policyClaims(raw map[string]json.RawMessage) (kept map[string]string, dropped int) {
	kept = map[string]string{}
	keys := slices.Sorted(maps.Keys(raw))
	order := slices.Clone(firstClaims)
	for _, k := range keys {
		if !slices.Contains(firstClaims, k) {
			order = append(order, k)
		}
	}
	for _, k := range order {
		v, ok := raw[k]
		if !ok || protocolClaims[k] {
			continue
		}
		s, ok := claimString(v)
		if !ok || len(kept) >= MaxClaims || k == "" || !printable(k, MaxClaimKeyBytes) || !printable(s, MaxClaimValueBytes) {
			dropped++
			continue
		}
		kept[k] = s
	}
	return kept, dropped
}

// claimString is a scalar claim's string form; false for lists, objects
// and null.
func claimString(v json.RawMessage) (string, bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "", false
	}
	switch {
	case v[0] == '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", false
		}
		return s, true
	case string(v) == "true" || string(v) == "false":
		return string(v), true
	case v[0] == '-' || (v[0] >= '0' && v[0] <= '9'):
		if _, err := strconv.ParseFloat(string(v), 64); err != nil {
			return "", false
		}
		return string(v), true
	}
	return "", false
}

// printable: s is valid UTF-8, at most max bytes, every rune printable
// (no control or format characters, which could hide what a value says
// in explain output or logs).
func printable(s string, max int) bool {
	if len(s) > max || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// keepClaims sets v's policy claims from c, with the claims Gatehouse
// itself checked in their checked form: iss is the configured issuer
// (userinfo carries none), email lower-cased, email_verified a boolean.
// What is dropped is logged as a count, never with values: claims can
// be personal data.
func (p *Provider) keepClaims(v *Verified, c claims) {
	raw := maps.Clone(c.raw)
	if raw == nil {
		raw = map[string]json.RawMessage{}
	}
	set := func(k string, val any) {
		b, _ := json.Marshal(val)
		raw[k] = b
	}
	set("iss", v.issuer)
	set("sub", v.subject)
	if v.email != "" {
		set("email", v.email)
	}
	if len(c.EmailVerified) > 0 {
		set("email_verified", v.emailVerified)
	}
	var dropped int
	v.claims, dropped = policyClaims(raw)
	if dropped > 0 {
		p.log.Info("identity provider claims left out of policy (not a string, boolean or number, too long, not printable, or over the limit)",
			"issuer", v.issuer, "user", v.userName, "dropped", dropped, "kept", len(v.claims))
	}
}
