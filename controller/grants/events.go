package grants

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// Kind is what happened to a grant.
type Kind int

const (
	// Issued: the peer is on the gateway and the agent was sent the grant.
	Issued Kind = iota + 1
	// Denied: a request got no grant; Reasons say why. The agent was told
	// on the link it asked on.
	Denied
	// Renewed: the lease was extended on the gateway by Lease; the agent
	// is to be told (the controller's agent pusher subscribes).
	Renewed
	// Revoked: the grant no longer passes (policy, posture, an admin, its
	// gateway, or the gateway lost its peer); Reasons say why. Subscribers
	// hear it before the peer is removed; the agent is to be told.
	Revoked
	// Expired: nobody renewed the lease before it ran out; as Revoked.
	Expired
	// Released: the agent gave the grant back, or replaced it.
	Released
	// Moved: the app's upstreams changed and the peer was updated in place.
	Moved
)

func (k Kind) String() string {
	switch k {
	case Issued:
		return "issued"
	case Denied:
		return "denied"
	case Renewed:
		return "renewed"
	case Revoked:
		return "revoked"
	case Expired:
		return "expired"
	case Released:
		return "released"
	case Moved:
		return "moved"
	}
	return "unknown"
}

// Event is one step of a grant's life.
type Event struct {
	Kind      Kind
	At        time.Time
	Device    string
	User      string
	App       string
	PublicKey string
	Gateway   string     // empty for a denial before a gateway was chosen
	Overlay   netip.Addr // zero for a denial
	Lease     time.Duration
	Reasons   []api.Reason // for Denied, Revoked and Expired
}

// subscribers fans events out to their subscribers.
type subscribers struct {
	mu   sync.Mutex // guards next and subs
	next int
	subs []subscriber // in the order they subscribed
}

type subscriber struct {
	id int
	f  func(Event)
}

// Subscribe calls f with every event from now on until cancel is called.
//
// f runs synchronously, on the goroutine that caused the event, and the
// Manager goes on only once every subscriber has returned: so what f does
// with a revocation (tell the agent) happens before the peer is removed,
// and before anything that follows it. f is never called under the
// Manager's mu nor the subscriber list's lock, but under the grant's own
// lock (gwMu), so the events of one grant reach f in the order they
// happened. f must not block, and must not call Manager methods other than
// Keys, List and Subscribe. A call already under way may still reach f
// after cancel returns.
func (m *Manager) Subscribe(f func(Event)) (cancel func()) {
	s := &m.subs
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.next
	s.next++
	s.subs = append(s.subs, subscriber{id, f})
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.subs = slices.DeleteFunc(s.subs, func(sub subscriber) bool { return sub.id == id })
	}
}

// emit hands e to every subscriber, in the order they subscribed. The
// caller holds no Manager lock but the grant's gwMu.
func (m *Manager) emit(e Event) {
	e.At = m.clock.Now()
	s := &m.subs
	s.mu.Lock()
	subs := slices.Clone(s.subs)
	s.mu.Unlock()
	for _, sub := range subs {
		sub.f(e)
	}
}
