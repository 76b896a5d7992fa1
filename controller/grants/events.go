package grants

import (
	"net/netip"
	"sync"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// Kind is what happened to a grant.
type Kind int

const (
	// Issued: the peer is on the gateway and the agent was sent the grant.
	Issued Kind = iota + 1
	// Denied: a request got no grant; Reasons say why.
	Denied
	// Renewed: the lease was extended on the gateway and the agent told.
	Renewed
	// Revoked: the grant no longer passes (policy, posture, an admin, its
	// gateway); Reasons say why. The agent was told, then the peer removed.
	Revoked
	// Expired: nobody renewed the lease before it ran out.
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

// subscribers fans events out to their subscribers, in order.
type subscribers struct {
	mu   sync.Mutex // guards next and subs
	next int
	subs map[int]func(Event)
}

// Subscribe calls f with every event from now on until cancel is called.
// f runs on the goroutine that caused the event: it must not block or
// call back into the Manager.
func (m *Manager) Subscribe(f func(Event)) (cancel func()) {
	s := &m.subs
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.subs == nil {
		s.subs = map[int]func(Event){}
	}
	id := s.next
	s.next++
	s.subs[id] = f
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.subs, id)
	}
}

func (m *Manager) emit(e Event) {
	e.At = m.clock.Now()
	s := &m.subs
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.subs {
		f(e)
	}
}
