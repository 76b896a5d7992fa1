package grants

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/ipam"
)

// EmbeddedGateway is the name of the gateway cmd/gatehouse-controller
// runs in its own process, and the gateway of an app that names none.
const EmbeddedGateway = "embedded"

// Config wires a Manager. Every field is required but Logger.
type Config struct {
	// Lease is how long a grant lives without renewal.
	Lease  time.Duration
	Clock  Clock
	Policy Policy
	// Presence says which devices are connected: only their grants renew.
	Presence Presence
	// Overlays hands out tunnels' overlay /32s.
	Overlays ipam.Allocator
	Logger   *slog.Logger
	// NextEdge, when set, is the first moment after now at which the
	// decision for user's device on app may change with the time alone
	// (a condition over request.time, a sign-in's age); zero when it never
	// does. A live grant is decided again at its edge (edges.go).
	NextEdge func(user, device, app string, now time.Time) time.Time
}

// Manager owns the live grants.
//
// Lock order: a grant's gwMu, then Manager.mu; the Manager calls Policy,
// Presence, Link, gateways and event subscribers without holding mu, so
// callers may hold their own locks around Manager methods only if those
// locks are never taken by Policy, Presence, Link or a subscriber (Keys
// and List take only mu, Subscribe only its own).
type Manager struct {
	cfg      Config
	clock    Clock
	log      *slog.Logger
	gateways Registry
	subs     subscribers

	mu     sync.Mutex     // guards grants, asking and every grant's dests and expires
	grants map[key]*grant // the live grants
	// asking holds the keys a Request is under way for, each closed when
	// it ends: one Request per key at a time, so only the Request under
	// way puts a grant in its key's place.
	asking map[key]chan struct{}

	// edgeMu guards the timer of time edges (edges.go). Taken after mu
	// is released, never around a call out.
	edgeMu       sync.Mutex
	edgeTimer    Timer     // nil when no edge is pending
	edgeAt       time.Time // when edgeTimer fires
	edgesStopped bool      // Stop was called
}

type key struct{ device, app string }

// grant is one live (device, app) tunnel.
type grant struct {
	key
	user    string
	pub     string
	overlay netip.Addr
	gateway string // the name of the gateway the peer is installed on

	// gwMu serialises this grant's calls to its gateway and messages to
	// its agent, so a renewal or a move never puts back a peer a
	// revocation just removed, and the grant message goes before any
	// renew or revoke of it.
	gwMu    sync.Mutex
	dropped bool // under gwMu: the peer is gone for good

	// Under Manager.mu.
	dests   []api.Destination // as installed on the gateway
	expires time.Time
	edge    time.Time // when its decision may next change with the time alone; zero: never
	// until is when the decision's just-in-time access ends (zero:
	// never): no lease is given past it, so the gateway drops the peer
	// then on its own clock even if nothing else does.
	until time.Time
}

// leaseFrom is the lease a grant gets at now: the Manager's lease, cut
// short at until (a just-in-time access's end) when that is set.
func (m *Manager) leaseFrom(now, until time.Time) time.Duration {
	if until.IsZero() {
		return m.cfg.Lease
	}
	return min(m.cfg.Lease, until.Sub(now))
}

// New makes a Manager with no grants and no gateways.
func New(cfg Config) *Manager {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{cfg: cfg, clock: cfg.Clock, log: cfg.Logger, grants: map[key]*grant{}, asking: map[key]chan struct{}{}}
}

// Request is an agent's ask for a tunnel to App with a fresh key.
type Request struct {
	Device, User, App string
	// PublicKey is the tunnel's WireGuard key, already parsed and in its
	// one spelling.
	PublicKey string
}

// Request decides req and, if allowed, installs the peer on the app's
// gateway before answering on link with a grant; otherwise link gets a
// denial with reasons. A grant the device held for the app is replaced.
// A request for the same device and app still under way (on a link being
// replaced) is waited for. The error is for a request that is itself wrong
// (a key another tunnel holds): it was denied, and the agent should also
// hear the error; or ctx ended while waiting.
func (m *Manager) Request(ctx context.Context, req Request, link Link) error {
	k := key{req.Device, req.App}
	deny := func(reasons []api.Reason) {
		link.Send(api.TypeDeny, api.Denial{App: req.App, PublicKey: req.PublicKey, Reasons: reasons})
		m.emit(Event{Kind: Denied, Device: req.Device, User: req.User, App: req.App, PublicKey: req.PublicKey, Reasons: reasons})
	}
	m.mu.Lock()
	for m.asking[k] != nil {
		wait := m.asking[k]
		m.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return fmt.Errorf("grant request for %q: %w", req.App, ctx.Err())
		}
		m.mu.Lock()
	}
	for other, g := range m.grants {
		if g.pub == req.PublicKey && other != k {
			m.mu.Unlock()
			m.log.Warn("grant request reuses a live tunnel key", "device", req.Device, "app", req.App)
			err := fmt.Errorf("grant request for %q: this WireGuard key already belongs to another tunnel; make a fresh key for each app", req.App)
			deny([]api.Reason{{Code: api.CodeBadRequest, Message: err.Error(), Remediation: "Update the Gatehouse agent"}})
			return err
		}
	}
	old := m.grants[k]
	delete(m.grants, k)
	asking := make(chan struct{})
	m.asking[k] = asking
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.asking, k)
		m.mu.Unlock()
		close(asking)
	}()
	if old != nil {
		m.release(ctx, old)
	}

	d := m.cfg.Policy.Decide(req.User, req.Device, req.App, m.clock.Now())
	if !d.Allowed {
		m.log.Info("grant denied", "device", req.Device, "user", req.User, "app", req.App, "reasons", api.ReasonsText(d.Reasons))
		deny(d.Reasons)
		return nil
	}
	app, _ := m.cfg.Policy.App(req.App)
	gwName := AppGateway(app)
	gw, online := m.gateways.Get(gwName)
	if !online {
		m.log.Info("grant denied: gateway offline", "device", req.Device, "app", req.App, "gateway", gwName)
		deny([]api.Reason{GatewayOffline(gwName)})
		return nil
	}
	overlay, err := m.cfg.Overlays.Take()
	if err != nil {
		m.log.Error("no overlay address for a grant", "err", err)
		deny([]api.Reason{{Code: api.CodeControllerExhausted,
			Message: "the controller has no overlay addresses left", Remediation: "Ask an admin to check the controller"}})
		return nil
	}
	now := m.clock.Now()
	g := &grant{key: k, user: req.User, pub: req.PublicKey, overlay: overlay, gateway: gwName,
		dests: destinations(app), expires: now.Add(m.leaseFrom(now, d.AccessUntil)), until: d.AccessUntil}
	if err := gw.AddPeer(ctx, m.peerConfig(g)); err != nil {
		m.log.Warn("gateway refused peer", "app", app.Name, "gateway", gwName, "err", err)
		m.cfg.Overlays.Release(overlay)
		deny([]api.Reason{{Code: api.CodeGatewayUnavailable,
			Message: "the gateway for this app did not accept the tunnel", Remediation: "Try again in a minute; if it persists, tell IT"}})
		return nil
	}
	// Things may have changed while the gateway was busy: the decision,
	// the device (deleted), the link (replaced). The grant goes live
	// first and is re-checked after: a change that lands after this
	// re-decision finds it live, and its re-decision revokes it (waiting
	// on gwMu until the grant message is out); a change that lands before
	// is seen here. Deciding first and going live after would let a grant
	// decided under the old policy slip past the change's re-decision.
	g.gwMu.Lock()
	m.mu.Lock()
	m.grants[k] = g // k is free: no other Request for it is under way
	m.mu.Unlock()
	d = m.cfg.Policy.Decide(req.User, req.Device, req.App, m.clock.Now())
	current := link.Current()
	if d.Allowed && current {
		m.mu.Lock()
		g.until = d.AccessUntil
		lease := g.expires.Sub(m.clock.Now())
		m.mu.Unlock()
		// Sent under gwMu, so no renew or revoke of this grant can
		// overtake it.
		link.Send(api.TypeGrant, api.Grant{App: app.Name, PublicKey: g.pub, GatewayEndpoint: gw.Endpoint(), GatewayPublicKey: gw.PublicKey(),
			OverlayAddr: overlay.String(), VirtualIP: app.VirtualIP, Ports: AppPorts(app), Lease: api.Duration(lease)})
		m.emit(Event{Kind: Issued, Device: g.device, User: g.user, App: g.app, PublicKey: g.pub, Gateway: g.gateway, Overlay: g.overlay, Lease: lease})
		m.log.Info("grant", "device", g.device, "user", g.user, "app", g.app, "gateway", gwName, "overlay", overlay)
		m.setEdge(g, m.clock.Now())
	} else {
		// Whoever else took g meanwhile finds it dropped and does nothing.
		m.take(g)
		m.dropLocked(ctx, g)
	}
	g.gwMu.Unlock()
	if !d.Allowed && current {
		deny(d.Reasons)
	}
	m.scheduleEdges()
	return nil
}

// Release ends device's grant for app if it still has that key: the agent
// no longer wants it.
func (m *Manager) Release(ctx context.Context, device, app, publicKey string) {
	m.mu.Lock()
	g := m.grants[key{device, app}]
	if g == nil || g.pub != publicKey {
		m.mu.Unlock()
		return
	}
	delete(m.grants, g.key)
	m.mu.Unlock()
	m.log.Info("grant released by agent", "device", device, "app", app)
	m.release(ctx, g)
}

// Reevaluate re-decides device's live grants: it revokes those that no
// longer pass and moves those whose app changed its upstreams.
func (m *Manager) Reevaluate(ctx context.Context, device string) {
	m.reevaluate(ctx, func(d string) bool { return d == device })
}

// ReevaluateAll re-decides every live grant, as Reevaluate does.
func (m *Manager) ReevaluateAll(ctx context.Context) {
	m.reevaluate(ctx, func(string) bool { return true })
}

func (m *Manager) reevaluate(ctx context.Context, match func(device string) bool) {
	m.redecide(ctx, m.live(match))
}

// redecide re-decides gs as Reevaluate does, then sets the edge timer.
func (m *Manager) redecide(ctx context.Context, gs []*grant) {
	defer m.scheduleEdges()
	now := m.clock.Now()
	for _, g := range gs {
		d := m.cfg.Policy.Decide(g.user, g.device, g.app, now)
		if !d.Allowed {
			if m.take(g) {
				m.revoke(ctx, g, Revoked, d.Reasons)
			}
			continue
		}
		m.setEdge(g, now)
		app, _ := m.cfg.Policy.App(g.app)
		if name := AppGateway(app); name != g.gateway {
			if m.take(g) {
				m.revoke(ctx, g, Revoked, []api.Reason{{Code: api.CodeGatewayChanged,
					Message: fmt.Sprintf("the app moved from gateway %s to %s", g.gateway, name), Remediation: "Reconnect to reach the app through its new gateway"}})
			}
			continue
		}
		dests := destinations(app)
		m.mu.Lock()
		if m.grants[g.key] == g {
			g.until = d.AccessUntil
		}
		changed := m.grants[g.key] == g && !slices.Equal(dests, g.dests)
		if changed {
			g.dests = dests
		}
		m.mu.Unlock()
		if changed {
			m.move(ctx, g)
		}
	}
}

// RevokeDevice revokes every grant of device with reasons (the device or
// its user was deleted).
func (m *Manager) RevokeDevice(ctx context.Context, device string, reasons []api.Reason) {
	for _, g := range m.live(func(d string) bool { return d == device }) {
		if m.take(g) {
			m.revoke(ctx, g, Revoked, reasons)
		}
	}
}

// ExpireDue revokes, with lease.expired, every grant whose lease has run
// out: nobody renewed it.
func (m *Manager) ExpireDue(ctx context.Context) {
	now := m.clock.Now()
	var expired []*grant
	m.mu.Lock()
	for k, g := range m.grants {
		if !g.expires.After(now) {
			delete(m.grants, k)
			expired = append(expired, g)
		}
	}
	m.mu.Unlock()
	for _, g := range expired {
		m.log.Info("grant expired", "device", g.device, "app", g.app)
		m.revoke(ctx, g, Expired, []api.Reason{{Code: api.CodeLeaseExpired,
			Message: "the tunnel's lease ran out before it could be renewed", Remediation: "Reconnect; if it keeps happening, tell IT"}})
	}
}

// RenewAll expires what is due, then gives every other grant of a
// connected device a fresh lease on its gateway (Renewed). A grant whose
// device is offline, or whose gateway cannot be reached, is not renewed
// and ends at its expiry; one whose gateway no longer holds its peer is
// revoked at once (gateway.lost_grant), so its agent asks afresh instead
// of keeping a dead tunnel. The caller re-decides first (ReevaluateAll):
// RenewAll does not decide.
func (m *Manager) RenewAll(ctx context.Context) {
	m.ExpireDue(ctx)
	for _, g := range m.live(m.cfg.Presence.Connected) {
		m.renew(ctx, g)
	}
}

func (m *Manager) renew(ctx context.Context, g *grant) {
	g.gwMu.Lock()
	defer g.gwMu.Unlock()
	if g.dropped {
		return
	}
	gw, online := m.gateways.Get(g.gateway)
	if !online {
		m.log.Warn("gateway offline: lease not renewed", "app", g.app, "device", g.device, "gateway", g.gateway)
		return
	}
	// The Manager's own expiry counts from before the gateway and the
	// agent receive theirs, so it is the earliest of the three.
	now := m.clock.Now()
	m.mu.Lock()
	lease := m.leaseFrom(now, g.until)
	m.mu.Unlock()
	if lease <= 0 {
		return // the access has ended: the grant ends at its expiry
	}
	exp := now.Add(lease)
	err := gw.RenewPeer(ctx, g.pub, lease)
	if errors.Is(err, ErrPeerLost) {
		if m.take(g) {
			m.revokeLocked(ctx, g, Revoked, []api.Reason{gatewayLostGrant(g.gateway)})
		}
		return
	}
	if err != nil {
		m.log.Warn("renew lease on gateway", "app", g.app, "device", g.device, "err", err)
		return
	}
	m.mu.Lock()
	live := m.grants[g.key] == g
	if live {
		g.expires = exp
	}
	m.mu.Unlock()
	if live {
		m.emit(Event{Kind: Renewed, Device: g.device, User: g.user, App: g.app, PublicKey: g.pub, Gateway: g.gateway, Overlay: g.overlay, Lease: lease})
	}
}

// move installs a grant's new destinations: the same key at the same
// overlay address, so the gateway updates it in place and resets flows to
// destinations it no longer has. A gateway that cannot take the change
// must not keep the old ones: the grant is revoked.
func (m *Manager) move(ctx context.Context, g *grant) {
	g.gwMu.Lock()
	if g.dropped {
		g.gwMu.Unlock()
		return
	}
	pc := m.peerConfig(g)
	err := errGatewayOffline
	if gw, online := m.gateways.Get(g.gateway); online {
		err = gw.AddPeer(ctx, pc)
	}
	if err == nil {
		m.emit(Event{Kind: Moved, Device: g.device, User: g.user, App: g.app, PublicKey: g.pub, Gateway: g.gateway, Overlay: g.overlay})
	}
	g.gwMu.Unlock()
	if err == nil {
		m.log.Info("grant moved to the app's new upstreams", "device", g.device, "app", g.app)
		return
	}
	m.log.Warn("could not move grant to the app's new upstreams", "device", g.device, "app", g.app, "err", err)
	if m.take(g) {
		m.revoke(ctx, g, Revoked, []api.Reason{{Code: api.CodeGatewayUnavailable,
			Message: "the app changed and its gateway could not take the change", Remediation: "Reconnect in a minute; if it persists, tell IT"}})
	}
}

// revoke emits the revocation first (its subscribers tell the agent,
// which closes its side at once), then has the gateway reset the flows
// and remove the peer. Either alone stops the data. g must already be out
// of the live grants (take).
func (m *Manager) revoke(ctx context.Context, g *grant, kind Kind, reasons []api.Reason) {
	g.gwMu.Lock()
	defer g.gwMu.Unlock()
	m.revokeLocked(ctx, g, kind, reasons)
}

// revokeLocked is revoke for a caller that holds g.gwMu.
func (m *Manager) revokeLocked(ctx context.Context, g *grant, kind Kind, reasons []api.Reason) {
	if g.dropped {
		return
	}
	m.log.Info("grant "+kind.String(), "device", g.device, "user", g.user, "app", g.app, "reasons", api.ReasonsText(reasons))
	m.emit(Event{Kind: kind, Device: g.device, User: g.user, App: g.app, PublicKey: g.pub, Gateway: g.gateway, Overlay: g.overlay, Reasons: reasons})
	m.dropLocked(ctx, g)
}

// release removes g's peer without telling the agent (it gave g up).
func (m *Manager) release(ctx context.Context, g *grant) {
	g.gwMu.Lock()
	defer g.gwMu.Unlock()
	if g.dropped {
		return
	}
	m.emit(Event{Kind: Released, Device: g.device, User: g.user, App: g.app, PublicKey: g.pub, Gateway: g.gateway, Overlay: g.overlay})
	m.dropLocked(ctx, g)
}

// dropLocked removes g's peer from its gateway, once, and frees its
// overlay address. If the gateway cannot be told, the address stays taken
// until the gateway's own timer has dropped the peer at the lease's end;
// if it no longer holds the peer, the address is free at once.
// The caller holds g.gwMu.
func (m *Manager) dropLocked(ctx context.Context, g *grant) {
	g.dropped = true
	err := errGatewayOffline
	if gw, online := m.gateways.Get(g.gateway); online {
		err = gw.RemovePeer(ctx, g.pub)
	}
	if err == nil || errors.Is(err, ErrPeerLost) {
		m.cfg.Overlays.Release(g.overlay)
		return
	}
	m.log.Warn("remove peer from gateway; it ends at its lease", "app", g.app, "gateway", g.gateway, "err", err)
	m.mu.Lock()
	wait := g.expires.Sub(m.clock.Now()) + time.Second
	m.mu.Unlock()
	m.clock.AfterFunc(wait, func() { m.cfg.Overlays.Release(g.overlay) })
}

// live lists the live grants of the devices match accepts.
func (m *Manager) live(match func(device string) bool) []*grant {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*grant
	for k, g := range m.grants {
		if match(k.device) {
			out = append(out, g)
		}
	}
	return out
}

// take removes g from the live grants, and reports whether it was there
// (whoever takes it ends it).
func (m *Manager) take(g *grant) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.grants[g.key] != g {
		return false
	}
	delete(m.grants, g.key)
	return true
}

func (m *Manager) peerConfig(g *grant) api.PeerConfig {
	m.mu.Lock()
	defer m.mu.Unlock()
	return api.PeerConfig{PublicKey: g.pub, OverlayAddr: g.overlay.String(), App: g.app,
		Destinations: g.dests, Lease: api.Duration(g.expires.Sub(m.clock.Now()))}
}

// Desired is the full peer set gateway name should hold now: every live
// grant on it, each with the rest of its lease. A standalone gateway is
// sent it on every connect and drops any peer not in it.
func (m *Manager) Desired(name string) []api.PeerConfig {
	out := []api.PeerConfig{}
	for _, g := range m.live(func(string) bool { return true }) {
		if g.gateway != name {
			continue
		}
		if pc := m.peerConfig(g); pc.Lease > 0 {
			out = append(out, pc)
		}
	}
	return out
}

// holdsKey reports whether a live grant on gateway name has key pub.
func (m *Manager) holdsKey(name, pub string) bool {
	for _, g := range m.live(func(string) bool { return true }) {
		if g.gateway == name && g.pub == pub {
			return true
		}
	}
	return false
}

// Keys lists the tunnel keys of device's live grants.
func (m *Manager) Keys(device string) []string {
	var out []string
	for _, g := range m.live(func(d string) bool { return d == device }) {
		out = append(out, g.pub)
	}
	sort.Strings(out)
	return out
}

// List lists the live grants for the admin API, by overlay address.
func (m *Manager) List() []api.LiveGrant {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]api.LiveGrant, 0, len(m.grants))
	for _, g := range m.grants {
		// ExpiresAt is for people: the wall clock now plus what is left.
		out = append(out, api.LiveGrant{Device: g.device, User: g.user, App: g.app, PublicKey: g.pub,
			OverlayAddr: g.overlay.String(), ExpiresAt: time.Now().Add(g.expires.Sub(m.clock.Now()))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].OverlayAddr < out[j].OverlayAddr })
	return out
}

// RegisterGateway brings the gateway e online as name: apps whose gateway
// is name get their grants installed on it from now on. Peers e holds
// that belong to no live grant (left from before a controller restart,
// or ended while e was away) are removed first, so nobody keeps a tunnel
// that nothing renews or can revoke.
func (m *Manager) RegisterGateway(ctx context.Context, name string, e Enforcer) error {
	if err := m.gateways.add(name, e); err != nil {
		return err
	}
	live := map[string]bool{}
	for _, g := range m.live(func(string) bool { return true }) {
		if g.gateway == name {
			live[g.pub] = true
		}
	}
	for _, p := range e.Peers(ctx) {
		// A grant issued since the snapshot above is live too: look again
		// right before removing, so a fresh grant's peer is never taken.
		if live[p.PublicKey] || m.holdsKey(name, p.PublicKey) {
			continue
		}
		if err := e.RemovePeer(ctx, p.PublicKey); err != nil {
			m.log.Warn("remove a peer no live grant holds; it ends at its lease", "gateway", name, "app", p.App, "err", err)
		} else {
			m.log.Info("removed a peer no live grant holds", "gateway", name, "app", p.App, "overlay", p.OverlayAddr)
		}
	}
	m.log.Info("gateway online", "gateway", name, "endpoint", e.Endpoint())
	return nil
}

// UnregisterGateway takes the gateway e registered as name offline: new
// grants for its apps are denied ("gateway NAME is offline"), and its live
// grants are not renewed, so they end at their lease on both sides. A
// name now held by another Enforcer (the gateway reconnected) is left.
func (m *Manager) UnregisterGateway(name string, e Enforcer) {
	if m.gateways.remove(name, e) {
		m.log.Info("gateway offline", "gateway", name)
	}
}

// GatewayPeers lists the peers of every gateway online.
func (m *Manager) GatewayPeers(ctx context.Context) []api.GatewayPeer {
	out := []api.GatewayPeer{}
	for _, name := range m.gateways.Names() {
		if gw, online := m.gateways.Get(name); online {
			out = append(out, gw.Peers(ctx)...)
		}
	}
	return out
}

// errGatewayOffline is what a call to a gateway that is not registered
// returns.
var errGatewayOffline = errors.New("gateway offline")

// AppGateway is the name of the gateway app is behind.
func AppGateway(app api.App) string {
	if app.Gateway == "" {
		return EmbeddedGateway
	}
	return app.Gateway
}

// GatewayOffline is the denial for an app whose gateway is not registered.
func GatewayOffline(name string) api.Reason {
	return api.Reason{Code: api.CodeGatewayOffline, Message: fmt.Sprintf("gateway %s is offline", name),
		Remediation: "Try again later; if it persists, tell IT the gateway is down"}
}

// gatewayLostGrant is the revocation of a grant whose gateway no longer
// holds its peer (the gateway restarted, or its own timer expired it).
func gatewayLostGrant(name string) api.Reason {
	return api.Reason{Code: api.CodeGatewayLostGrant, Message: fmt.Sprintf("gateway %s no longer holds this tunnel (it restarted or dropped it)", name),
		Remediation: "Nothing to do: the agent sets up a new tunnel on the next connection to the app"}
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

func AppPorts(app api.App) []uint16 {
	out := make([]uint16, 0, len(app.Upstreams))
	for _, up := range app.Upstreams {
		_, port, _ := net.SplitHostPort(up)
		p, _ := strconv.ParseUint(port, 10, 16)
		out = append(out, uint16(p))
	}
	return out
}
