package controller

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// Address plan: every tunnel gets an overlay /32 from overlayPrefix; every
// app a virtual IP from appPrefix. Agents route appPrefix into each tunnel
// and the gateway decides what may pass.
var (
	overlayPrefix = netip.MustParsePrefix("100.64.0.0/12")
	appPrefix     = netip.MustParsePrefix("100.80.0.0/16")
)

type grantKey struct{ device, app string }

// grant is one live (device, app) tunnel.
type grant struct {
	grantKey
	user    string
	pub     string
	overlay netip.Addr
	dests   []api.Destination // as installed on the gateway
	expires time.Time
}

// requestGrant decides and, if allowed, installs the peer on the gateway
// before answering the agent.
func (c *Controller) requestGrant(ctx context.Context, s *session, req api.GrantRequest) {
	key := grantKey{s.device, req.App}
	c.mu.Lock()
	for k, g := range c.grants {
		if g.pub == req.PublicKey && k != key {
			c.mu.Unlock()
			c.log.Warn("grant request reuses a live tunnel key", "device", s.device, "app", req.App)
			s.sendError("bad_request", fmt.Sprintf("grant request for %q: this WireGuard key already belongs to another tunnel; make a fresh key for each app", req.App))
			return
		}
	}
	d := c.snap.Decide(s.user, c.posture[s.device], req.App, time.Now())
	app := c.snap.Apps[req.App]
	old := c.grants[key]
	delete(c.grants, key)
	var overlay netip.Addr
	if d.Allowed {
		overlay = c.overlays.take()
	}
	c.mu.Unlock()
	if old != nil {
		c.dropPeer(ctx, old)
	}
	if !d.Allowed {
		c.log.Info("grant denied", "device", s.device, "user", s.user, "app", req.App, "reasons", api.ReasonsText(d.Reasons))
		s.send(api.TypeDeny, api.Denial{App: req.App, Reasons: d.Reasons})
		return
	}
	if !overlay.IsValid() {
		s.send(api.TypeDeny, api.Denial{App: req.App, Reasons: []api.Reason{{Code: "controller.exhausted",
			Message: "the controller has no overlay addresses left", Remediation: "Ask an admin to check the controller"}}})
		return
	}
	g := &grant{grantKey: key, user: s.user, pub: req.PublicKey, overlay: overlay, dests: destinations(app),
		expires: time.Now().Add(c.cfg.LeaseTTL)}
	if err := c.gw.AddPeer(ctx, g.peerConfig()); err != nil {
		c.log.Warn("gateway refused peer", "app", app.Name, "err", err)
		c.releaseAddr(overlay)
		s.send(api.TypeDeny, api.Denial{App: req.App, Reasons: []api.Reason{{Code: "gateway.unavailable",
			Message: "the gateway for this app did not accept the tunnel", Remediation: "Try again in a minute; if it persists, tell IT"}}})
		return
	}
	c.mu.Lock()
	// The decision may have changed while the gateway was busy; re-check.
	d = c.snap.Decide(s.user, c.posture[s.device], req.App, time.Now())
	if d.Allowed {
		c.grants[key] = g
	}
	c.mu.Unlock()
	if !d.Allowed {
		c.dropPeer(ctx, g)
		s.send(api.TypeDeny, api.Denial{App: req.App, Reasons: d.Reasons})
		return
	}
	c.log.Info("grant", "device", s.device, "user", s.user, "app", app.Name, "overlay", overlay, "expires_at", g.expires)
	s.send(api.TypeGrant, api.Grant{App: app.Name, PublicKey: g.pub, GatewayEndpoint: c.gw.Endpoint(), GatewayPublicKey: c.gw.PublicKey(),
		OverlayAddr: overlay.String(), VirtualIP: app.VirtualIP, Ports: appPorts(app), ExpiresAt: g.expires})
}

// release ends a grant the agent no longer wants, if it is still the one
// with that key.
func (c *Controller) release(ctx context.Context, device string, rel api.Release) {
	key := grantKey{device, rel.App}
	c.mu.Lock()
	g := c.grants[key]
	if g == nil || g.pub != rel.PublicKey {
		c.mu.Unlock()
		return
	}
	delete(c.grants, key)
	c.mu.Unlock()
	c.log.Info("grant released by agent", "device", device, "app", rel.App)
	c.dropPeer(ctx, g)
}

func (g *grant) peerConfig() api.PeerConfig {
	return api.PeerConfig{PublicKey: g.pub, OverlayAddr: g.overlay.String(), App: g.app,
		Destinations: g.dests, ExpiresAt: g.expires}
}

// reevaluate re-decides every live grant (of one device, or all when
// device is empty), revokes those that no longer pass, moves those whose
// app changed its upstreams to the new ones, and, with notify, refreshes
// every affected agent's view of its decisions.
func (c *Controller) reevaluate(ctx context.Context, device string, notify bool) {
	type revocation struct {
		g       *grant
		s       *session
		reasons []api.Reason
	}
	var revoked []revocation
	var moved []*grant
	var sessions []*session
	now := time.Now()
	c.mu.Lock()
	for key, g := range c.grants {
		if device != "" && key.device != device {
			continue
		}
		d := c.snap.Decide(g.user, c.posture[key.device], key.app, now)
		if !d.Allowed {
			delete(c.grants, key)
			revoked = append(revoked, revocation{g, c.sessions[key.device], d.Reasons})
			continue
		}
		if dests := destinations(c.snap.Apps[key.app]); !slices.Equal(dests, g.dests) {
			g.dests = dests
			moved = append(moved, g)
		}
	}
	for id, s := range c.sessions {
		if notify && (device == "" || id == device) {
			sessions = append(sessions, s)
		}
	}
	c.mu.Unlock()
	for _, r := range revoked {
		c.revoke(ctx, r.g, r.s, r.reasons)
	}
	for _, g := range moved {
		c.moveGrant(ctx, g)
	}
	for _, s := range sessions {
		c.sendDecisions(s)
	}
}

// moveGrant installs a grant's new destinations: the same key at the same
// overlay address, so the gateway updates it in place and resets flows to
// destinations it no longer has. A gateway that cannot take the change
// must not keep the old ones: the grant is revoked.
func (c *Controller) moveGrant(ctx context.Context, g *grant) {
	c.mu.Lock()
	pc := g.peerConfig()
	c.mu.Unlock()
	err := c.gw.AddPeer(ctx, pc)
	if err == nil {
		c.log.Info("grant moved to the app's new upstreams", "device", g.device, "app", g.app)
		return
	}
	c.log.Warn("could not move grant to the app's new upstreams", "device", g.device, "app", g.app, "err", err)
	c.mu.Lock()
	live := c.grants[g.grantKey] == g
	if live {
		delete(c.grants, g.grantKey)
	}
	s := c.sessions[g.device]
	c.mu.Unlock()
	if live {
		c.revoke(ctx, g, s, []api.Reason{{Code: "gateway.unavailable",
			Message: "the app changed and its gateway could not take the change", Remediation: "Reconnect in a minute; if it persists, tell IT"}})
	}
}

// revoke tells the agent first (it closes its side at once), then has the
// gateway reset the flows and remove the peer. Either alone stops the data.
func (c *Controller) revoke(ctx context.Context, g *grant, s *session, reasons []api.Reason) {
	c.log.Info("grant revoked", "device", g.device, "user", g.user, "app", g.app, "reasons", api.ReasonsText(reasons))
	if s != nil {
		s.send(api.TypeRevoke, api.Revocation{App: g.app, Reasons: reasons})
	}
	c.dropPeer(ctx, g)
}

func (c *Controller) dropPeer(ctx context.Context, g *grant) {
	if err := c.gw.RemovePeer(ctx, g.pub); err != nil {
		c.log.Warn("remove peer from gateway", "app", g.app, "err", err)
	}
	c.releaseAddr(g.overlay)
}

func (c *Controller) releaseAddr(a netip.Addr) {
	c.mu.Lock()
	c.overlays.give(a)
	c.mu.Unlock()
}

// renewLoop extends every lease that still passes, a third of a lease
// before it would end. A grant whose device is offline, or whose gateway
// cannot be reached, is not renewed and ends at its expiry.
func (c *Controller) renewLoop(ctx context.Context) {
	every := max(c.cfg.LeaseTTL/3, 50*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.renewAll(ctx)
		}
	}
}

func (c *Controller) renewAll(ctx context.Context) {
	now := time.Now()
	type renewal struct {
		g *grant
		s *session
	}
	var renew []renewal
	var expired []*grant
	c.reevaluate(ctx, "", false)
	c.mu.Lock()
	for key, g := range c.grants {
		s := c.sessions[key.device]
		switch {
		case !g.expires.After(now):
			delete(c.grants, key)
			expired = append(expired, g)
		case s != nil:
			renew = append(renew, renewal{g, s})
		}
	}
	c.mu.Unlock()
	for _, g := range expired {
		c.log.Info("grant expired", "device", g.device, "app", g.app)
		c.revoke(ctx, g, c.session(g.device), []api.Reason{{Code: "lease.expired",
			Message: "the tunnel's lease ran out before it could be renewed", Remediation: "Reconnect; if it keeps happening, tell IT"}})
	}
	for _, r := range renew {
		exp := now.Add(c.cfg.LeaseTTL)
		if err := c.gw.RenewPeer(ctx, r.g.pub, exp); err != nil {
			c.log.Warn("renew lease on gateway", "app", r.g.app, "device", r.g.device, "err", err)
			continue
		}
		c.mu.Lock()
		if c.grants[r.g.grantKey] == r.g {
			r.g.expires = exp
		}
		c.mu.Unlock()
		r.s.send(api.TypeRenew, api.Renewal{App: r.g.app, PublicKey: r.g.pub, ExpiresAt: exp})
	}
}

func (c *Controller) session(device string) *session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessions[device]
}

// liveGrants lists grants for the admin API.
func (c *Controller) liveGrants() []api.LiveGrant {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]api.LiveGrant, 0, len(c.grants))
	for _, g := range c.grants {
		out = append(out, api.LiveGrant{Device: g.device, User: g.user, App: g.app, PublicKey: g.pub,
			OverlayAddr: g.overlay.String(), ExpiresAt: g.expires})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].OverlayAddr < out[j].OverlayAddr })
	return out
}

// destinations maps each upstream to the app's virtual IP on the same port.
func destinations(app api.App) []api.Destination {
	out := make([]api.Destination, 0, len(app.Upstreams))
	for _, up := range app.Upstreams {
		_, port, _ := net.SplitHostPort(up)
		out = append(out, api.Destination{VirtualAddr: net.JoinHostPort(app.VirtualIP, port), Upstream: up})
	}
	return out
}

func appPorts(app api.App) []uint16 {
	out := make([]uint16, 0, len(app.Upstreams))
	for _, up := range app.Upstreams {
		_, port, _ := net.SplitHostPort(up)
		p, _ := strconv.ParseUint(port, 10, 16)
		out = append(out, uint16(p))
	}
	return out
}

// addrPool hands out addresses of a prefix, skipping the network address.
type addrPool struct {
	prefix netip.Prefix
	next   netip.Addr
	free   []netip.Addr
	used   map[netip.Addr]bool
}

func newAddrPool(p netip.Prefix) *addrPool {
	return &addrPool{prefix: p, next: p.Addr().Next(), used: map[netip.Addr]bool{}}
}

// take returns an unused address, or the zero Addr when none is left.
func (p *addrPool) take() netip.Addr {
	if n := len(p.free); n > 0 {
		a := p.free[n-1]
		p.free = p.free[:n-1]
		p.used[a] = true
		return a
	}
	for p.prefix.Contains(p.next) {
		a := p.next
		p.next = a.Next()
		if !p.used[a] {
			p.used[a] = true
			return a
		}
	}
	return netip.Addr{}
}

// mark records an address already in use (loaded from the store).
func (p *addrPool) mark(a netip.Addr) { p.used[a] = true }

func (p *addrPool) give(a netip.Addr) {
	if p.used[a] {
		delete(p.used, a)
		p.free = append(p.free, a)
	}
}
