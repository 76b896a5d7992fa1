package agent

import "time"

// Clock is the agent's time. Leases are timed on it: tests advance a
// fake instead of sleeping through a lease.
type Clock interface {
	// Now is the current time, with a monotonic reading.
	Now() time.Time
	// AfterFunc calls f once d has passed, unless the timer is stopped
	// first. f must not assume which goroutine calls it.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a Clock's pending call.
type Timer interface {
	// Stop cancels the call; false if it already ran or was stopped.
	Stop() bool
	// Reset makes the call due d from now, running or stopped.
	Reset(d time.Duration) bool
}

// systemClock is the real time.
type systemClock struct{}

var _ Clock = systemClock{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
