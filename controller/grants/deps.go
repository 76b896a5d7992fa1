package grants

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// Clock is the Manager's time.
type Clock interface {
	// Now is the current time; only differences of two Nows are used.
	Now() time.Time
	// AfterFunc runs f in its own goroutine once d has passed; Stop on
	// the result cancels it if it has not run.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc.
type Timer interface {
	// Stop cancels the call; false when it already ran or was stopped.
	Stop() bool
}

// SystemClock is the real clock.
type SystemClock struct{}

var _ Clock = SystemClock{}

func (SystemClock) Now() time.Time                            { return time.Now() }
func (SystemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Enforcer is a gateway as the Manager drives it: the embedded one in
// process, or a remote one over its websocket.
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
	// drop at its old expiry. The error wraps ErrPeerLost when the gateway
	// does not hold the peer at all.
	RenewPeer(ctx context.Context, publicKey string, lease time.Duration) error
	// RemovePeer resets the peer's open flows and removes it. The error
	// wraps ErrPeerLost when the gateway does not hold the peer.
	RemovePeer(ctx context.Context, publicKey string) error
	// Peers lists what is installed.
	Peers(ctx context.Context) []api.GatewayPeer
}

// ErrPeerLost is what an Enforcer's RenewPeer and RemovePeer wrap when the
// gateway does not hold the peer: it restarted, or its own timer expired
// the peer. Adapters map their gateway's own error onto it (this package
// cannot import the gateway).
var ErrPeerLost = errors.New("the gateway does not hold this peer")

// Policy is what the Manager asks before it issues or keeps a grant.
type Policy interface {
	// Decide is the decision for user's device on app at now, on the
	// device's latest posture.
	Decide(user, device, app string, now time.Time) api.Decision
	// App is the app named name in the current policy.
	App(name string) (api.App, bool)
}

// Presence tells which devices' agents are connected. (Agents hear of
// renewals and revocations from the Manager's Events, not from here.)
type Presence interface {
	// Connected reports whether device has a link now: only grants of
	// connected devices are renewed. It never blocks.
	Connected(device string) bool
}

// Link is the agent link a grant request came on.
type Link interface {
	// Send queues msg, of wire type typ, on this link; it never blocks.
	Send(typ string, msg any)
	// Current reports whether this is still the device's link: a grant
	// finished for a link that was replaced or closed is not kept.
	Current() bool
}

// Registry holds the gateways online now, by name. Gateways come and go
// at runtime; an app whose gateway is not here is denied at once.
type Registry struct {
	mu     sync.Mutex          // guards byName
	byName map[string]Enforcer // the gateways registered now
}

// Get is the gateway registered as name, if it is online.
func (r *Registry) Get(name string) (Enforcer, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.byName[name]
	return e, ok
}

// add registers e as name; a name already taken by another Enforcer is
// refused. Registering the same one again (a standalone gateway's new link
// while its old one is still closing) succeeds, so its stray-peer cleanup
// runs again.
func (r *Registry) add(name string, e Enforcer) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur, taken := r.byName[name]; taken && cur != e {
		return fmt.Errorf("gateway %q is already registered: unregister it first, or give this one another name", name)
	}
	if r.byName == nil {
		r.byName = map[string]Enforcer{}
	}
	r.byName[name] = e
	return nil
}

// remove unregisters name if e is what it holds, and reports whether it did.
func (r *Registry) remove(name string, e Enforcer) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur, ok := r.byName[name]; !ok || cur != e {
		return false
	}
	delete(r.byName, name)
	return true
}

// Names lists the registered gateways, sorted.
func (r *Registry) Names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.byName))
	for n := range r.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
