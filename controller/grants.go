package controller

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// Address plan: every tunnel gets an overlay /32 from overlayPrefix (unless
// Config.OverlayPrefix says otherwise); every app a virtual IP from
// appPrefix. Agents route appPrefix into each tunnel and the gateway
// decides what may pass.
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
	gateway string // the name of the gateway the peer is installed on

	// gwMu serialises this grant's calls to the gateway, so a renewal or a
	// move can never put back a peer a revocation just removed.
	gwMu    sync.Mutex
	dropped bool // under gwMu: the peer is gone for good

	// Under c.mu.
	dests   []api.Destination // as installed on the gateway
	expires time.Time
}

func (g *grant) peerConfig() api.PeerConfig {
	return api.PeerConfig{PublicKey: g.pub, OverlayAddr: g.overlay.String(), App: g.app,
		Destinations: g.dests, Lease: api.Duration(time.Until(g.expires))}
}

// postureLocked is the device's latest report, or nil when there is none
// or it is too old to trust: an agent that stopped reporting fails closed.
func (c *Controller) postureLocked(device string, now time.Time) *api.PostureReport {
	p, ok := c.posture[device]
	if !ok || now.Sub(p.at) > 3*c.cfg.HeartbeatInterval+2*time.Second {
		return nil
	}
	return p.report
}

func (c *Controller) decideLocked(user, device, app string, now time.Time) api.Decision {
	return c.snap.Decide(user, c.postureLocked(device, now), app, now)
}

// requestGrant decides and, if allowed, installs the peer on the gateway
// before answering the agent.
func (c *Controller) requestGrant(ctx context.Context, s *session, req api.GrantRequest) {
	key := grantKey{s.device, req.App}
	c.mu.Lock()
	if c.noteAskedLocked(s.device, s.user, req.App) {
		// A decision set computed before now lacks this app: send a new
		// one after the answer.
		defer s.limits.posture.Kick()
	}
	for k, g := range c.grants {
		if g.pub == req.PublicKey && k != key {
			c.mu.Unlock()
			c.log.Warn("grant request reuses a live tunnel key", "device", s.device, "app", req.App)
			msg := fmt.Sprintf("grant request for %q: this WireGuard key already belongs to another tunnel; make a fresh key for each app", req.App)
			s.sendError(api.CodeBadRequest, msg)
			s.send(api.TypeDeny, api.Denial{App: req.App, PublicKey: req.PublicKey, Reasons: []api.Reason{{Code: api.CodeBadRequest,
				Message: msg, Remediation: "Update the Gatehouse agent"}}})
			return
		}
	}
	d := c.decideLocked(s.user, s.device, req.App, time.Now())
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
		s.send(api.TypeDeny, api.Denial{App: req.App, PublicKey: req.PublicKey, Reasons: d.Reasons})
		return
	}
	gwName := appGateway(app)
	gw, online := c.gateways.get(gwName)
	if !online {
		if overlay.IsValid() {
			c.releaseAddr(overlay)
		}
		c.log.Info("grant denied: gateway offline", "device", s.device, "app", req.App, "gateway", gwName)
		s.send(api.TypeDeny, api.Denial{App: req.App, PublicKey: req.PublicKey, Reasons: []api.Reason{gatewayOffline(gwName)}})
		return
	}
	if !overlay.IsValid() {
		s.send(api.TypeDeny, api.Denial{App: req.App, PublicKey: req.PublicKey, Reasons: []api.Reason{{Code: api.CodeControllerExhausted,
			Message: "the controller has no overlay addresses left", Remediation: "Ask an admin to check the controller"}}})
		return
	}
	g := &grant{grantKey: key, user: s.user, pub: req.PublicKey, overlay: overlay, gateway: gwName, dests: destinations(app),
		expires: time.Now().Add(c.cfg.LeaseTTL)}
	if err := gw.AddPeer(ctx, g.peerConfig()); err != nil {
		c.log.Warn("gateway refused peer", "app", app.Name, "err", err)
		c.releaseAddr(overlay)
		s.send(api.TypeDeny, api.Denial{App: req.App, PublicKey: req.PublicKey, Reasons: []api.Reason{{Code: api.CodeGatewayUnavailable,
			Message: "the gateway for this app did not accept the tunnel", Remediation: "Try again in a minute; if it persists, tell IT"}}})
		return
	}
	// Things may have changed while the gateway was busy: the decision, the
	// device (deleted), the session (replaced). Re-check before keeping it.
	c.mu.Lock()
	d = c.decideLocked(s.user, s.device, req.App, time.Now())
	current := c.sessions[s.device] == s
	var displaced *grant
	if d.Allowed && current {
		displaced = c.grants[key]
		c.grants[key] = g
		// Queued before c.mu is released, so no renew or revoke of this
		// grant can overtake it.
		s.send(api.TypeGrant, api.Grant{App: app.Name, PublicKey: g.pub, GatewayEndpoint: gw.Endpoint(), GatewayPublicKey: gw.PublicKey(),
			OverlayAddr: overlay.String(), VirtualIP: app.VirtualIP, Ports: appPorts(app), Lease: api.Duration(time.Until(g.expires))})
	}
	c.mu.Unlock()
	if displaced != nil {
		c.dropPeer(ctx, displaced)
	}
	if !d.Allowed || !current {
		c.dropPeer(ctx, g)
		if current {
			s.send(api.TypeDeny, api.Denial{App: req.App, PublicKey: req.PublicKey, Reasons: d.Reasons})
		}
		return
	}
	c.log.Info("grant", "device", s.device, "user", s.user, "app", app.Name, "overlay", overlay)
}

// maxAsked bounds how many asked-for app names the controller keeps per
// device.
const maxAsked = 64

// noteAskedLocked records that device (of user) asked for app, and
// reports whether the device's decision sets did not name it until now.
func (c *Controller) noteAskedLocked(device, user, app string) bool {
	if c.asked == nil {
		c.asked = map[string][]string{}
	}
	names := c.asked[device]
	if i := slices.Index(names, app); i >= 0 {
		c.asked[device] = append(slices.Delete(names, i, i+1), app)
		return false
	}
	if len(names) >= maxAsked {
		names = slices.Delete(names, 0, 1)
	}
	c.asked[device] = append(names, app)
	return !c.snap.Entitles(user, app)
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
		d := c.decideLocked(g.user, key.device, key.app, now)
		if !d.Allowed {
			delete(c.grants, key)
			revoked = append(revoked, revocation{g, c.sessions[key.device], d.Reasons})
			continue
		}
		if name := appGateway(c.snap.Apps[key.app]); name != g.gateway {
			delete(c.grants, key)
			revoked = append(revoked, revocation{g, c.sessions[key.device], []api.Reason{{Code: api.CodeGatewayChanged,
				Message: fmt.Sprintf("the app moved from gateway %q to %q", g.gateway, name), Remediation: "Reconnect to reach the app through its new gateway"}}})
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
	g.gwMu.Lock()
	if g.dropped {
		g.gwMu.Unlock()
		return
	}
	c.mu.Lock()
	pc := g.peerConfig()
	c.mu.Unlock()
	err := errGatewayOffline
	if gw, online := c.gateways.get(g.gateway); online {
		err = gw.AddPeer(ctx, pc)
	}
	g.gwMu.Unlock()
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
		c.revoke(ctx, g, s, []api.Reason{{Code: api.CodeGatewayUnavailable,
			Message: "the app changed and its gateway could not take the change", Remediation: "Reconnect in a minute; if it persists, tell IT"}})
	}
}

// revoke tells the agent first (it closes its side at once), then has the
// gateway reset the flows and remove the peer. Either alone stops the data.
func (c *Controller) revoke(ctx context.Context, g *grant, s *session, reasons []api.Reason) {
	c.log.Info("grant revoked", "device", g.device, "user", g.user, "app", g.app, "reasons", api.ReasonsText(reasons))
	if s != nil {
		s.send(api.TypeRevoke, api.Revocation{App: g.app, PublicKey: g.pub, Reasons: reasons})
	}
	c.dropPeer(ctx, g)
}

// dropPeer removes g's peer from the gateway, once, and frees its overlay
// address. If the gateway cannot be told, the address stays taken until the
// gateway's own timer has dropped the peer at the lease's end.
func (c *Controller) dropPeer(ctx context.Context, g *grant) {
	g.gwMu.Lock()
	defer g.gwMu.Unlock()
	if g.dropped {
		return
	}
	g.dropped = true
	err := errGatewayOffline
	if gw, online := c.gateways.get(g.gateway); online {
		err = gw.RemovePeer(ctx, g.pub)
	}
	if err != nil {
		c.log.Warn("remove peer from gateway; it ends at its lease", "app", g.app, "err", err)
		c.mu.Lock()
		wait := time.Until(g.expires) + time.Second
		c.mu.Unlock()
		time.AfterFunc(wait, func() { c.releaseAddr(g.overlay) })
		return
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
	type renewal struct {
		g *grant
		s *session
	}
	var renew []renewal
	var expired []*grant
	stale := c.policyStale.Load()
	if stale {
		c.adminMu.Lock()
		err := c.reload(ctx)
		c.adminMu.Unlock()
		if err != nil {
			// Decisions would come from an old snapshot: renew nothing,
			// and let leases end.
			c.log.Error("policy still not reloaded; renewing no grant", "err", err)
		} else {
			c.policyStale.Store(false)
			stale = false
		}
	}
	if !stale {
		c.reevaluate(ctx, "", false) // also catches posture that went stale
	}
	now := time.Now()
	c.mu.Lock()
	for key, g := range c.grants {
		s := c.sessions[key.device]
		switch {
		case !g.expires.After(now):
			delete(c.grants, key)
			expired = append(expired, g)
		case s != nil && !stale:
			renew = append(renew, renewal{g, s})
		}
	}
	c.mu.Unlock()
	for _, g := range expired {
		c.log.Info("grant expired", "device", g.device, "app", g.app)
		c.revoke(ctx, g, c.session(g.device), []api.Reason{{Code: api.CodeLeaseExpired,
			Message: "the tunnel's lease ran out before it could be renewed", Remediation: "Reconnect; if it keeps happening, tell IT"}})
	}
	for _, r := range renew {
		c.renew(ctx, r.g, r.s, c.cfg.LeaseTTL)
	}
}

// renew moves g's lease to exp on the gateway and tells the agent, unless
// g was revoked meanwhile.
func (c *Controller) renew(ctx context.Context, g *grant, s *session, lease time.Duration) {
	g.gwMu.Lock()
	defer g.gwMu.Unlock()
	if g.dropped {
		return
	}
	// The controller's own expiry counts from before the gateway and the
	// agent receive theirs, so it is the earliest of the three.
	exp := time.Now().Add(lease)
	gw, online := c.gateways.get(g.gateway)
	if !online {
		c.log.Warn("gateway offline: lease not renewed", "app", g.app, "device", g.device, "gateway", g.gateway)
		return
	}
	if err := gw.RenewPeer(ctx, g.pub, lease); err != nil {
		c.log.Warn("renew lease on gateway", "app", g.app, "device", g.device, "err", err)
		return
	}
	c.mu.Lock()
	live := c.grants[g.grantKey] == g
	if live {
		g.expires = exp
	}
	c.mu.Unlock()
	if live {
		s.send(api.TypeRenew, api.Renewal{App: g.app, PublicKey: g.pub, Lease: api.Duration(lease)})
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

// errGatewayOffline is what a call to a gateway that is not registered
// returns.
var errGatewayOffline = errors.New("gateway offline")

// appGateway is the name of the gateway app is behind.
func appGateway(app api.App) string {
	if app.Gateway == "" {
		return EmbeddedGateway
	}
	return app.Gateway
}

// gatewayOffline is the denial for an app whose gateway is not registered.
func gatewayOffline(name string) api.Reason {
	return api.Reason{Code: api.CodeGatewayOffline, Message: fmt.Sprintf("gateway %s is offline", name),
		Remediation: "Try again later; if it persists, tell IT the gateway is down"}
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
// Fresh addresses go first and freed ones are reused oldest first, so an
// address is handed out again as late as possible: packets still queued
// for its last holder never reach the next one.
func (p *addrPool) take() netip.Addr {
	for p.prefix.Contains(p.next) {
		a := p.next
		p.next = a.Next()
		if !p.used[a] {
			p.used[a] = true
			return a
		}
	}
	if len(p.free) > 0 {
		a := p.free[0]
		p.free = p.free[1:]
		p.used[a] = true
		return a
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
