package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent/frontend"
	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/tunnel"
)

// grantWait bounds how long a first connection waits for its tunnel.
const grantWait = 10 * time.Second

// appTunnel is one app's WireGuard tunnel, with its own key pair.
type appTunnel struct {
	app    string
	pub    tunnel.PublicKey
	client *tunnel.Client
	grant  api.Grant
	vip    netip.Addr
	clock  Clock // what the lease is timed on
	timer  Timer // tears the tunnel down at the end of the lease
	// idle is how long the tunnel is kept without a flow (idle.go); 0
	// keeps it, and idleTimer is nil.
	idle      time.Duration
	idleTimer Timer

	mu      sync.Mutex            // guards the fields below
	conns   map[net.Conn]struct{} // both ends of every flow
	flows   int
	dialing int       // dials in progress: flows about to be tracked
	lastUse time.Time // monotonic: the last hand-out to a front-end, end of a dial, or end of the last flow
	closed  bool
	expires time.Time // monotonic: receipt of the grant or last renewal plus its lease
}

// inflight is a grant request in progress; every connection that needs the
// same app waits on it.
type inflight struct {
	key  tunnel.PrivateKey
	done chan struct{}
	t    *appTunnel
	err  error
	// export marks a request for a WireGuard config (export.go): its
	// grant is handed out in grant, no tunnel is built here.
	export bool
	grant  api.Grant
}

func (f *inflight) fail(err error) {
	f.err = err
	close(f.done)
}

// DeniedError is returned when the controller refuses a tunnel.
type DeniedError struct {
	App     string
	Reasons []api.Reason
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("access to %s denied: %s", e.App, api.ReasonsText(e.Reasons))
}

// access is the agent as its front-ends see it.
type access Agent

var _ frontend.Access = (*access)(nil)

// Tunnel implements frontend.Access.
func (x *access) Tunnel(ctx context.Context, app string) (frontend.Tunnel, error) {
	t, err := (*Agent)(x).tunnelFor(ctx, app)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// Decision implements frontend.Access.
func (x *access) Decision(app string) (api.Decision, bool) {
	a := (*Agent)(x)
	a.mu.Lock()
	defer a.mu.Unlock()
	d, ok := a.decisions[app]
	return d, ok
}

var _ frontend.Tunnel = (*appTunnel)(nil)

// tunnelFor returns the app's live tunnel, asking the controller for a
// grant (with a fresh key pair) when there is none.
func (a *Agent) tunnelFor(ctx context.Context, app string) (*appTunnel, error) {
	a.mu.Lock()
	if a.exports[app] != nil {
		a.mu.Unlock()
		return nil, fmt.Errorf("%s is exported as a WireGuard config, which holds this device's grant for it: "+
			"run `gatehouse connect %s --wireguard-config --release` to use it here", app, app)
	}
	if t := a.tunnels[app]; t != nil {
		t.used() // under a.mu: an idle release cannot take it from the caller now
		a.mu.Unlock()
		return t, nil
	}
	f := a.pending[app]
	if f != nil && f.export {
		a.mu.Unlock()
		return nil, fmt.Errorf("a WireGuard config for %s is being made; try again in a moment", app)
	}
	if f == nil {
		key, err := tunnel.NewPrivateKey()
		if err != nil {
			a.mu.Unlock()
			return nil, err
		}
		f = &inflight{key: key, done: make(chan struct{})}
		a.pending[app] = f
		a.mu.Unlock()
		if err := a.control.RequestGrant(ctx, api.GrantRequest{App: app, PublicKey: key.Public().String()}); err != nil {
			a.mu.Lock()
			if a.pending[app] == f {
				delete(a.pending, app)
				f.fail(fmt.Errorf("ask for a tunnel to %s: %w", app, err))
			}
			a.mu.Unlock()
		}
	} else {
		a.mu.Unlock()
	}
	if err := a.awaitGrant(ctx, app, f); err != nil {
		return nil, err
	}
	return f.t, nil
}

// awaitGrant waits for the answer to f, app's pending request: f.err, or
// an error when it does not come in time.
func (a *Agent) awaitGrant(ctx context.Context, app string, f *inflight) error {
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(grantWait):
		// Give up on this request so the next connection asks afresh.
		a.mu.Lock()
		if a.pending[app] == f {
			delete(a.pending, app)
		}
		a.mu.Unlock()
		return fmt.Errorf("no answer from the controller for %s within %s", app, grantWait)
	}
}

// granted brings up the tunnel a pending request asked for. The request
// stays pending while the tunnel is built, so connections arriving
// meanwhile wait for it instead of asking again.
func (a *Agent) granted(ctx context.Context, g api.Grant) {
	a.mu.Lock()
	f := a.pending[g.App]
	if f != nil && f.key.Public().String() != g.PublicKey {
		f = nil // an answer to an older request
	}
	a.mu.Unlock()
	if f == nil {
		a.log.Warn("grant for an app nobody asked for; releasing it", "app", g.App)
		a.release(ctx, g.App, g.PublicKey)
		return
	}
	if f.export {
		a.exportGranted(ctx, f, g)
		return
	}
	t, err := newAppTunnel(f.key, g, a)
	a.mu.Lock()
	current := a.pending[g.App] == f && !a.stopped
	if current {
		delete(a.pending, g.App)
	}
	var old *appTunnel
	if current && err == nil {
		old = a.tunnels[g.App]
		a.tunnels[g.App] = t
	}
	a.mu.Unlock()
	switch {
	case err != nil:
		a.release(ctx, g.App, g.PublicKey)
		if current {
			f.fail(err)
		}
		return
	case !current: // the request timed out meanwhile
		t.close()
		a.release(ctx, g.App, g.PublicKey)
		return
	}
	if old != nil {
		old.close()
	}
	a.log.Info("tunnel up", "app", g.App, "overlay", g.OverlayAddr, "lease", time.Duration(g.Lease))
	a.stateChanged()
	f.t = t
	close(f.done)
}

func newAppTunnel(key tunnel.PrivateKey, g api.Grant, a *Agent) (*appTunnel, error) {
	gwKey, err := tunnel.ParsePublicKey(g.GatewayPublicKey)
	if err != nil {
		return nil, fmt.Errorf("grant for %s: %w", g.App, err)
	}
	endpoint, err := netip.ParseAddrPort(g.GatewayEndpoint)
	if err != nil {
		ap, rerr := net.ResolveUDPAddr("udp", g.GatewayEndpoint)
		if rerr != nil {
			return nil, fmt.Errorf("grant for %s: gateway endpoint %q: %w", g.App, g.GatewayEndpoint, rerr)
		}
		endpoint = ap.AddrPort()
	}
	overlay, err := netip.ParseAddr(g.OverlayAddr)
	if err != nil {
		return nil, fmt.Errorf("grant for %s: overlay address: %w", g.App, err)
	}
	if g.Lease <= 0 {
		return nil, fmt.Errorf("grant for %s has no lease left (%s): ask again", g.App, time.Duration(g.Lease))
	}
	vip, err := netip.ParseAddr(g.VirtualIP)
	if err != nil {
		return nil, fmt.Errorf("grant for %s: virtual IP: %w", g.App, err)
	}
	client, err := tunnel.NewClient(tunnel.ClientConfig{PrivateKey: key, Address: overlay, PeerPublicKey: gwKey,
		PeerEndpoint: endpoint, AllowedIPs: []netip.Prefix{netip.PrefixFrom(vip, 16).Masked()},
		Logger: a.log.With("app", g.App)})
	if err != nil {
		return nil, err
	}
	t := &appTunnel{app: g.App, pub: key.Public(), client: client, grant: g, vip: vip, conns: map[net.Conn]struct{}{}}
	// Fail closed on our side too: a lease that is not renewed ends here,
	// timed on this device's monotonic clock from receipt.
	t.clock = a.clock
	t.expires = a.clock.Now().Add(time.Duration(g.Lease))
	t.timer = a.clock.AfterFunc(time.Duration(g.Lease), func() {
		a.teardown(t, []api.Reason{{Code: "lease.expired", Message: "the tunnel's lease ran out without renewal"}})
	})
	a.armIdle(t)
	return t, nil
}

// denied fails the pending request and records why.
func (a *Agent) denied(d api.Denial) {
	a.mu.Lock()
	f := a.pending[d.App]
	if f != nil && f.key.Public().String() != d.PublicKey {
		f = nil // the answer to an older request
	}
	if f != nil {
		delete(a.pending, d.App)
	}
	a.decisions[d.App] = api.Decision{App: d.App, Reasons: d.Reasons, EvaluatedAt: a.clock.Now()}
	a.mu.Unlock()
	a.stateChanged()
	a.log.Info("access denied", "app", d.App, "reasons", api.ReasonsText(d.Reasons))
	if f != nil {
		f.fail(&DeniedError{App: d.App, Reasons: d.Reasons})
	}
}

// renewed moves a tunnel's lease; a renewal for a tunnel this agent does
// not hold (lost in a restart, or already torn down) is released.
func (a *Agent) renewed(ctx context.Context, r api.Renewal) {
	if a.exportRenewed(r) {
		return
	}
	a.mu.Lock()
	t := a.tunnels[r.App]
	a.mu.Unlock()
	if t != nil && t.pub.String() == r.PublicKey && t.renew(time.Duration(r.Lease)) {
		return
	}
	a.log.Info("releasing a grant this agent does not hold", "app", r.App)
	a.release(ctx, r.App, r.PublicKey)
}

// release tells the controller to drop the grant of app with key pub.
func (a *Agent) release(ctx context.Context, app, pub string) {
	if err := a.control.Release(ctx, api.Release{App: app, PublicKey: pub}); err != nil {
		a.log.Warn("release grant", "app", app, "err", err)
	}
}

// renew gives the lease more life from now; false if t is already torn
// down (or the renewal carries no lease).
func (t *appTunnel) renew(lease time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || lease <= 0 {
		return false
	}
	t.expires = t.clock.Now().Add(lease)
	t.timer.Reset(lease)
	return true
}

// revoked tears down the app's tunnel if it is the one with pub.
func (a *Agent) revoked(r api.Revocation) {
	if a.dropExport(r.App, r.PublicKey, r.Reasons) {
		a.log.Info("exported grant revoked", "app", r.App, "reasons", api.ReasonsText(r.Reasons))
		return
	}
	a.mu.Lock()
	t := a.tunnels[r.App]
	a.mu.Unlock()
	if t == nil || t.pub.String() != r.PublicKey {
		return // an older tunnel of this app, already gone
	}
	a.log.Info("access revoked", "app", r.App, "reasons", api.ReasonsText(r.Reasons))
	a.teardown(t, r.Reasons)
}

// teardown ends access through t, if it is still its app's tunnel: the
// connections on this side first, then the tunnel; reasons become the
// app's recorded decision.
func (a *Agent) teardown(t *appTunnel, reasons []api.Reason) {
	if len(reasons) == 0 {
		reasons = []api.Reason{{Code: "grant.ended", Message: "access ended without a reason from the controller"}}
	}
	a.mu.Lock()
	if a.tunnels[t.app] != t {
		a.mu.Unlock()
		return
	}
	delete(a.tunnels, t.app)
	a.decisions[t.app] = api.Decision{App: t.app, Reasons: reasons, EvaluatedAt: a.clock.Now()}
	a.mu.Unlock()
	a.stateChanged()
	t.close()
	a.log.Info("tunnel down", "app", t.app, "reasons", api.ReasonsText(reasons))
}

// detach closes t as the agent stops, recording no decision: the
// controller has not changed its mind.
func (a *Agent) detach(t *appTunnel) {
	a.mu.Lock()
	if a.tunnels[t.app] != t {
		a.mu.Unlock()
		return
	}
	delete(a.tunnels, t.app)
	a.mu.Unlock()
	a.stateChanged()
	t.close()
}

// close ends every connection through t and the tunnel itself. Access
// ended (revoked, expired, lost, removed, or the agent stopping), so local
// connections are aborted, not closed: an orderly close would let the
// kernel keep delivering what is queued for them after the decision.
// (TUN mode, when it comes, must end its flows the same way: a reset.)
func (t *appTunnel) close() {
	t.mu.Lock()
	t.closed = true
	t.timer.Stop()
	if t.idleTimer != nil {
		t.idleTimer.Stop()
	}
	for c := range t.conns {
		tunnel.Abort(c)
	}
	t.conns = nil
	t.mu.Unlock()
	t.client.Close()
}

// Dial implements frontend.Tunnel.
func (t *appTunnel) Dial(ctx context.Context, port uint16) (net.Conn, error) {
	return t.dial(ctx, netip.AddrPortFrom(t.vip, port))
}

// dial dials dst through the tunnel; while it runs, and for the idle
// period after, the tunnel is not released for idleness.
func (t *appTunnel) dial(ctx context.Context, dst netip.AddrPort) (net.Conn, error) {
	t.mu.Lock()
	t.dialing++
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		t.dialing--
		t.lastUse = t.clock.Now()
		t.mu.Unlock()
	}()
	return t.client.DialContext(ctx, dst)
}

// Track implements frontend.Tunnel: close aborts every tracked
// connection.
func (t *appTunnel) Track(cs ...net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	for _, c := range cs {
		t.conns[c] = struct{}{}
	}
	t.flows++
	return true
}

// Untrack implements frontend.Tunnel.
func (t *appTunnel) Untrack(cs ...net.Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range cs {
		delete(t.conns, c)
	}
	t.flows--
	if t.flows == 0 && !t.closed && t.idleTimer != nil {
		t.lastUse = t.clock.Now()
		t.idleTimer.Reset(t.idle)
	}
}

// DialInTunnel dials any address through app's live tunnel, bypassing the
// proxy's choice of destination: a diagnostic that shows what the gateway
// lets through, and how tests prove it refuses the rest.
func (a *Agent) DialInTunnel(ctx context.Context, app string, dst netip.AddrPort) (net.Conn, error) {
	a.mu.Lock()
	t := a.tunnels[app]
	if t != nil {
		t.used()
	}
	a.mu.Unlock()
	if t == nil {
		return nil, fmt.Errorf("no live tunnel for %s", app)
	}
	c, err := t.dial(ctx, dst)
	if err != nil {
		return nil, err
	}
	if !t.Track(c) {
		c.Close()
		return nil, errors.New("tunnel closed")
	}
	return &trackedConn{Conn: c, t: t}, nil
}

// trackedConn leaves its tunnel's flow count when closed.
type trackedConn struct {
	net.Conn
	t    *appTunnel
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() { c.t.Untrack(c.Conn) })
	return c.Conn.Close()
}
