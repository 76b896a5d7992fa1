package api

import (
	"fmt"
	"strings"
)

// DefaultDNSDomain is the organisation's Gatehouse domain unless the
// controller's --dns-domain says otherwise: apps are named APP.gatehouse.
const DefaultDNSDomain = "gatehouse"

// DNSDomainOrDefault is domain, or DefaultDNSDomain when it is empty (a
// controller older than the domain field sends none).
func DNSDomainOrDefault(domain string) string {
	if domain == "" {
		return DefaultDNSDomain
	}
	return domain
}

// CheckDNSDomain accepts a Gatehouse domain: lower-case letters, digits
// and hyphens in dot-separated labels (at most 63 each, 253 in all), no
// final dot. Names systems already route elsewhere are refused: the
// agent's per-link route for the domain would take them over (localhost,
// local for mDNS, arpa for reverse lookups).
func CheckDNSDomain(domain string) error {
	bad := func(why string) error {
		return fmt.Errorf("DNS domain %q %s; use a domain such as %q or corp.gatehouse", domain, why, DefaultDNSDomain)
	}
	if domain == "" || len(domain) > 253 {
		return bad("must be 1 to 253 characters")
	}
	for label := range strings.SplitSeq(domain, ".") {
		if label == "" || len(label) > 63 {
			return bad("has an empty or over-long label")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return bad("has a label starting or ending with a hyphen")
		}
		for _, r := range label {
			if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
				return bad("may hold only lower-case letters, digits, hyphens and dots")
			}
		}
	}
	last := domain[strings.LastIndexByte(domain, '.')+1:]
	if last == "localhost" || last == "local" || last == "arpa" {
		return bad("ends in ." + last + ", which the system already routes elsewhere")
	}
	return nil
}
