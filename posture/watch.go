package posture

import (
	"context"
	"sync"
	"time"
)

// WatchFunc runs until ctx is done and calls changed whenever a fact may
// have changed, so the caller re-collects at once instead of at its next
// poll. changed may be called when nothing changed (the caller compares
// reports); it must not block for long. A WatchFunc returns an error only
// when it cannot watch at all; it returns nil once ctx is done.
type WatchFunc func(ctx context.Context, changed func()) error

// How System.Watch turns bursts of events into re-collections. A killed
// daemon's exit, a `nft -f` transaction or a package install each come as
// several events; a user spawning processes in a loop sends thousands a
// second. The first event of a quiet period is passed on after
// watchSettle (the rest of its burst folds in); later ones wait until
// watchMinGap has passed since the previous call, so a flood costs at most
// one re-collection per watchMinGap. Both add latency to a real change:
// at most watchMinGap + watchSettle, well inside the one second a
// revocation may take.
const (
	watchSettle = 5 * time.Millisecond
	watchMinGap = 100 * time.Millisecond
)

// coalescer passes pokes on to changed, at most one call per minGap.
type coalescer struct {
	settle, minGap time.Duration
	kick           chan struct{} // buffered 1: a poke while one is pending is folded in
}

func newCoalescer(settle, minGap time.Duration) *coalescer {
	return &coalescer{settle: settle, minGap: minGap, kick: make(chan struct{}, 1)}
}

// poke says something changed; it never blocks.
func (c *coalescer) poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// run calls changed after pokes until ctx is done. A poke that arrives
// while changed runs leads to one more call: no change is lost.
func (c *coalescer) run(ctx context.Context, changed func()) {
	var last time.Time
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		}
		wait := c.settle
		if d := c.minGap - time.Since(last); d > wait {
			wait = d
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		select { // pokes during the wait are this call's
		case <-c.kick:
		default:
		}
		last = time.Now()
		changed()
	}
}

// WatchBoth runs a and b together (nil ones are skipped) until ctx is
// done. It returns the first error, after both have stopped; an error
// from one does not stop the other.
func WatchBoth(a, b WatchFunc) WatchFunc {
	return func(ctx context.Context, changed func()) error {
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex // guards first
			first error
		)
		for _, w := range []WatchFunc{a, b} {
			if w == nil {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := w(ctx, changed); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		return first
	}
}
