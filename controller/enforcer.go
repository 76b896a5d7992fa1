package controller

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// EmbeddedGateway is the name of the gateway cmd/gatehouse-controller runs
// in its own process, and the gateway of an app that names none.
const EmbeddedGateway = "embedded"

// Enforcer is a gateway as the controller drives it: the embedded one in
// process, or (later) a remote one over its websocket.
type Enforcer interface {
	// Endpoint is the UDP host:port agents reach WireGuard at.
	Endpoint() string
	// PublicKey is the gateway's WireGuard public key (base64).
	PublicKey() string
	// AddPeer installs (or replaces) a grant's peer; when it returns nil
	// the gateway admits the grant's flows. It must fail for an expired lease.
	AddPeer(ctx context.Context, pc api.PeerConfig) error
	// RenewPeer gives a live peer lease more life from now, on the
	// gateway's own clock; an error means the peer is not renewed and will
	// drop at its old expiry.
	RenewPeer(ctx context.Context, publicKey string, lease time.Duration) error
	// RemovePeer resets the peer's open flows and removes it.
	RemovePeer(ctx context.Context, publicKey string) error
	// Peers lists what is installed.
	Peers(ctx context.Context) []api.GatewayPeer
}

// gatewayRegistry holds the gateways online now, by name. Gateways come
// and go at runtime; an app whose gateway is not here is denied at once.
type gatewayRegistry struct {
	mu     sync.Mutex          // guards byName
	byName map[string]Enforcer // the gateways registered now
}

// get is the gateway registered as name, if it is online.
func (r *gatewayRegistry) get(name string) (Enforcer, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.byName[name]
	return e, ok
}

// add registers e as name; a name already taken is refused.
func (r *gatewayRegistry) add(name string, e Enforcer) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, taken := r.byName[name]; taken {
		return fmt.Errorf("gateway %q is already registered: unregister it first, or give this one another name", name)
	}
	if r.byName == nil {
		r.byName = map[string]Enforcer{}
	}
	r.byName[name] = e
	return nil
}

// remove unregisters name if e is what it holds, and reports whether it did.
func (r *gatewayRegistry) remove(name string, e Enforcer) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur, ok := r.byName[name]; !ok || cur != e {
		return false
	}
	delete(r.byName, name)
	return true
}

// names lists the registered gateways, sorted.
func (r *gatewayRegistry) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.byName))
	for n := range r.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// RegisterGateway brings the gateway e online as name: apps whose gateway
// is name get their grants installed on it from now on. Peers e holds
// that belong to no live grant of this controller (left from before a
// restart, or revoked while e was away) are removed first, so nobody
// keeps a tunnel that nothing renews or can revoke.
func (c *Controller) RegisterGateway(ctx context.Context, name string, e Enforcer) error {
	if err := validName("gateway", name); err != nil {
		return err
	}
	if err := c.gateways.add(name, e); err != nil {
		return err
	}
	c.mu.Lock()
	live := map[string]bool{}
	for _, g := range c.grants {
		if g.gateway == name {
			live[g.pub] = true
		}
	}
	c.mu.Unlock()
	for _, p := range e.Peers(ctx) {
		if live[p.PublicKey] {
			continue
		}
		if err := e.RemovePeer(ctx, p.PublicKey); err != nil {
			c.log.Warn("remove a peer no live grant holds; it ends at its lease", "gateway", name, "app", p.App, "err", err)
		} else {
			c.log.Info("removed a peer no live grant holds", "gateway", name, "app", p.App, "overlay", p.OverlayAddr)
		}
	}
	c.log.Info("gateway online", "gateway", name, "endpoint", e.Endpoint())
	return nil
}

// UnregisterGateway takes the gateway e registered as name offline: new
// grants for its apps are denied ("gateway NAME is offline"), and its live
// grants are not renewed, so they end at their lease on both sides.
func (c *Controller) UnregisterGateway(name string, e Enforcer) {
	if c.gateways.remove(name, e) {
		c.log.Info("gateway offline", "gateway", name)
	}
}

// gatewayPeers lists the peers of every gateway online, by gateway name.
func (c *Controller) gatewayPeers(ctx context.Context) []api.GatewayPeer {
	var out []api.GatewayPeer
	for _, name := range c.gateways.names() {
		if gw, online := c.gateways.get(name); online {
			out = append(out, gw.Peers(ctx)...)
		}
	}
	if out == nil {
		out = []api.GatewayPeer{}
	}
	return out
}
