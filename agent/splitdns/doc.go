// Package splitdns is the agent's split-DNS resolver: a small DNS server,
// meant to be bound to the TUN link's address and named as that link's
// resolver for one domain (default "gatehouse"), that answers APP.gatehouse
// with the app's virtual IP from the app list the controller sent. It is
// authoritative for that domain only: names under it that are no app of the
// user's get NXDOMAIN, names outside it get REFUSED; it never recurses and
// never forwards, so it cannot become an open resolver, and the only
// addresses it ever gives out are the controller's virtual IPs.
// Only processes on this host are answered. The protocol is
// github.com/miekg/dns.
//
// LinkDNS names the resolver as the TUN link's DNS server for the domain in
// systemd-resolved (resolvectl); FallbackHint says what to configure where
// resolved does not run.
//
// Imported by package agent.
package splitdns
