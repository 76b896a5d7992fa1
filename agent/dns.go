package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent/frontend"
	"github.com/gatehouse-ztna/gatehouse/agent/splitdns"
	"github.com/gatehouse-ztna/gatehouse/api"
)

// resolvectlWait bounds one round of resolvectl calls.
const resolvectlWait = 10 * time.Second

// splitDNS is TUN mode's resolver on the TUN link's address, a front-end
// of its own: it answers APP.<domain> from the same app list the others
// get, and goes away with them. Where systemd-resolved manages the host's
// DNS it is the link's DNS server for the domain; elsewhere the admin is
// told what to configure.
type splitDNS struct {
	srv  *splitdns.Server
	addr netip.Addr
	link *splitdns.LinkDNS // nil: resolved does not manage DNS here
	log  *slog.Logger

	mu     sync.Mutex // guards domain; held across resolvectl so changes apply in order
	domain string     // the domain resolved routes here, or the hint named; "" before the first
}

var _ frontend.Frontend = (*splitDNS)(nil)

// newSplitDNS listens on addr:53 (UDP and TCP) for link's names.
func newSplitDNS(ctx context.Context, link string, addr netip.Addr, log *slog.Logger) (*splitDNS, error) {
	srv, err := splitdns.Listen(net.JoinHostPort(addr.String(), "53"), api.DefaultDNSDomain)
	if err != nil {
		return nil, fmt.Errorf("%w: another DNS server may hold port 53 on every address (dnsmasq: add bind-interfaces, or except-interface=%s); "+
			"or turn split DNS off with --dns=false", err, link)
	}
	d := &splitDNS{srv: srv, addr: addr, log: log}
	if splitdns.ResolvedManagesDNS(ctx) {
		d.link = splitdns.NewLinkDNS(splitdns.ExecRunner, link, addr)
	}
	log.Info("split DNS resolver listening", "addr", srv.UDPAddr().String(), "systemd_resolved", d.link != nil)
	return d, nil
}

// Via says how names reach the resolver, for `gatehouse status`.
func (d *splitDNS) Via() string {
	if d.link != nil {
		return "systemd-resolved"
	}
	return "manual (see docs/split-dns.md)"
}

// SetDomain answers for domain from now on and routes it to the resolver
// (resolved), or says once per domain what the admin must configure.
func (d *splitDNS) SetDomain(ctx context.Context, domain string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if domain == d.domain {
		return
	}
	if err := d.srv.SetDomain(domain); err != nil {
		d.log.Warn("split DNS: domain refused", "domain", domain, "err", err)
		return
	}
	d.domain = domain
	if d.link == nil {
		d.log.Warn(splitdns.FallbackHint(domain, d.addr))
		return
	}
	ctx, cancel := context.WithTimeout(ctx, resolvectlWait)
	defer cancel()
	if err := d.link.Register(ctx, domain); err != nil {
		d.log.Warn("split DNS: systemd-resolved refused the link's DNS; names under the domain will not resolve", "domain", domain, "err", err)
		d.log.Warn(splitdns.FallbackHint(domain, d.addr))
		return
	}
	d.log.Info("split DNS: systemd-resolved sends names under the domain to the resolver", "domain", domain, "addr", d.addr)
}

// Domain is the domain the resolver answers for ("" before the first).
func (d *splitDNS) Domain() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.domain
}

// Addr is the resolver's address.
func (d *splitDNS) Addr() string { return d.srv.UDPAddr().String() }

func (d *splitDNS) SetApps(_ context.Context, apps []api.AppInfo) { d.srv.SetApps(apps) }
func (d *splitDNS) LocalAddr(string, uint16) string               { return "" }
func (d *splitDNS) Stats() frontend.Stats                         { return frontend.Stats{} }

// Close reverts the link's DNS in resolved, then stops the resolver.
func (d *splitDNS) Close() {
	d.mu.Lock()
	registered := d.link != nil && d.domain != ""
	d.mu.Unlock()
	if registered {
		ctx, cancel := context.WithTimeout(context.Background(), resolvectlWait)
		if err := d.link.Revert(ctx); err != nil {
			d.log.Warn("split DNS: revert the link's DNS in systemd-resolved", "err", err)
		}
		cancel()
	}
	if err := d.srv.Close(); err != nil {
		d.log.Warn("split DNS: stop the resolver", "err", err)
	}
}
