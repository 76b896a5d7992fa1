package agent

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeClock is a Clock that moves only when told. Due calls run in
// Advance, on the caller's goroutine, in due order.
type fakeClock struct {
	mu     sync.Mutex // guards the fields below; never held while a call runs
	now    time.Time
	timers []*fakeTimer
}

var _ Clock = (*fakeClock)(nil)

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, f: f, due: c.now.Add(d), live: true}
	c.timers = append(c.timers, t)
	return t
}

// Advance moves the clock by d and runs every call that fell due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	for _, t := range c.timers {
		if t.live && !t.due.After(c.now) {
			t.live = false
			due = append(due, t)
		}
	}
	slices.SortStableFunc(due, func(a, b *fakeTimer) int { return a.due.Compare(b.due) })
	c.mu.Unlock()
	for _, t := range due {
		t.f()
	}
}

type fakeTimer struct {
	c    *fakeClock
	f    func()
	due  time.Time // guarded by c.mu
	live bool      // guarded by c.mu: not yet run or stopped
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.live
	t.live = false
	return was
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.live
	t.live, t.due = true, t.c.now.Add(d)
	return was
}

func TestFakeClock(t *testing.T) {
	c := newFakeClock()
	var ran []string
	a := c.AfterFunc(time.Minute, func() { ran = append(ran, "a") })
	c.AfterFunc(2*time.Minute, func() { ran = append(ran, "b") })
	c.Advance(59 * time.Second)
	if len(ran) != 0 {
		t.Fatalf("Advance(59s) ran %v, want nothing", ran)
	}
	a.Reset(90 * time.Second) // due at 2m29s now, after b
	c.Advance(2 * time.Second)
	if len(ran) != 0 {
		t.Fatalf("Advance past a's first due time ran %v, want nothing (Reset moved it)", ran)
	}
	c.Advance(time.Hour)
	if len(ran) != 2 || ran[0] != "b" || ran[1] != "a" {
		t.Fatalf("Advance(1h) ran %v, want [b a] (in due order)", ran)
	}
	s := c.AfterFunc(time.Minute, func() { ran = append(ran, "s") })
	if s.Stop() != true || s.Stop() != false {
		t.Error("Stop() on a pending timer = false, or a second Stop() = true")
	}
	c.Advance(time.Hour)
	if len(ran) != 2 {
		t.Errorf("a stopped timer ran: %v", ran)
	}
}
