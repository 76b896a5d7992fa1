package splitdns

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
)

// Runner runs a command to its end and returns its combined output. The
// real one is ExecRunner; tests record the commands.
type Runner func(ctx context.Context, name string, args ...string) ([]byte, error)

// resolvectlPath is systemd's resolvectl, by absolute path so that PATH
// cannot swap it.
const resolvectlPath = "/usr/bin/resolvectl"

// LinkDNS names the resolver as one link's DNS server for the Gatehouse
// domain in systemd-resolved (per-link DNS, as `resolvectl` sets it): a
// routing-only domain (~corp.gatehouse), so resolved sends only names
// under it there and every other name goes where it went before. What it
// sets lives and dies with the link: resolved forgets a link that is
// deleted, so an agent that crashed leaves nothing behind.
type LinkDNS struct {
	run    Runner
	link   string
	server netip.Addr
}

// NewLinkDNS is a LinkDNS for link (the TUN interface) and the resolver's
// address on it; nothing runs until Register.
func NewLinkDNS(run Runner, link string, server netip.Addr) *LinkDNS {
	return &LinkDNS{run: run, link: link, server: server}
}

// Register makes the resolver the link's DNS server for names under
// domain, and the link no default route for other names. Calling it
// again with another domain moves the route to the new one.
func (l *LinkDNS) Register(ctx context.Context, domain string) error {
	if err := l.resolvectl(ctx, "dns", l.link, l.server.String()); err != nil {
		return err
	}
	if err := l.resolvectl(ctx, "domain", l.link, "~"+domain); err != nil {
		return err
	}
	// Routing-only domains already keep the link off the default route;
	// saying so explicitly guards against a resolved configured otherwise.
	// (resolvectl before systemd 240 lacks the verb: the domain suffices.)
	_ = l.resolvectl(ctx, "default-route", l.link, "false")
	return nil
}

// Revert drops everything Register set on the link.
func (l *LinkDNS) Revert(ctx context.Context) error {
	return l.resolvectl(ctx, "revert", l.link)
}

func (l *LinkDNS) resolvectl(ctx context.Context, args ...string) error {
	out, err := l.run(ctx, resolvectlPath, args...)
	if err != nil {
		return fmt.Errorf("resolvectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// FallbackHint is the one line telling an admin how to send the domain's
// names to the resolver where systemd-resolved does not run (see
// docs/split-dns.md).
func FallbackHint(domain string, server netip.Addr) string {
	return fmt.Sprintf("systemd-resolved is not managing this host's DNS: to resolve APP.%[1]s, forward %[1]s to %[2]s in the local resolver "+
		"(dnsmasq: server=/%[1]s/%[2]s; unbound: forward-zone name \"%[1]s.\" forward-addr %[2]s), "+
		"or, for a network namespace NS, put `nameserver %[2]s` in /etc/netns/NS/resolv.conf; see docs/split-dns.md", domain, server)
}
