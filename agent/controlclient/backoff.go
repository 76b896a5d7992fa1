package controlclient

import (
	"math/rand/v2"
	"time"
)

// Backoff is the wait between two attempts to reach the controller: it
// doubles from Min to Max after each failure, each wait drawn at random
// from its upper half so that agents cut off together do not come back
// together, and starts again from Min once a link has stayed up for Max.
type Backoff struct {
	Min, Max time.Duration
	// Jitter draws from [0, n]; nil uses math/rand/v2.
	Jitter func(n time.Duration) time.Duration

	next time.Duration
}

// DefaultBackoff is 0.2 s doubling to 10 s.
func DefaultBackoff() Backoff { return Backoff{Min: 200 * time.Millisecond, Max: 10 * time.Second} }

// Wait is how long to wait after a link that lasted up (0 for a dial that
// failed), and moves the backoff on.
func (b *Backoff) Wait(up time.Duration) time.Duration {
	if b.next == 0 || up >= b.Max {
		b.next = b.Min
	}
	cur := b.next
	b.next = min(cur*2, b.Max)
	jitter := b.Jitter
	if jitter == nil {
		jitter = func(n time.Duration) time.Duration { return rand.N(n + 1) }
	}
	return cur/2 + jitter(cur/2)
}
