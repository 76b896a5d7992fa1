package controller

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// fakeClock is a clock that moves only when the test advances it.
type fakeClock struct {
	mu      sync.Mutex // guards now and waiters
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

var _ clock = (*fakeClock)(nil)

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- f.now
		return ch
	}
	f.waiters = append(f.waiters, fakeWaiter{at: f.now.Add(d), ch: ch})
	return ch
}

// Advance moves the clock and fires the timers that are due.
func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	kept := f.waiters[:0]
	for _, w := range f.waiters {
		if w.at.After(f.now) {
			kept = append(kept, w)
			continue
		}
		w.ch <- f.now
	}
	f.waiters = kept
}

// waiting is how many timers are set.
func (f *fakeClock) waiting() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// TestCoalescer: the first kick after a quiet spell runs at once; kicks
// within the interval collapse into one run at its end; nothing runs
// without a kick; a kick pending when the link stops still runs.
func TestCoalescer(t *testing.T) {
	const every = 100 * time.Millisecond
	clk := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	q := newCoalescer(every, clk)
	runs := make(chan time.Time, 10)
	stop := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		q.Run(stop, func() { runs <- clk.Now() })
	}()
	wantRun := func(what string, at time.Time) {
		t.Helper()
		select {
		case got := <-runs:
			if !got.Equal(at) {
				t.Fatalf("%s: ran at %v, want %v", what, got, at)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no run within 5 s, want one at %v", what, at)
		}
	}
	wantNoRun := func(what string) {
		t.Helper()
		select {
		case got := <-runs:
			t.Fatalf("%s: ran at %v, want no run", what, got)
		case <-time.After(50 * time.Millisecond):
		}
	}
	awaitTimer := func() {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for clk.waiting() == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the coalescer set no timer within 5 s")
			}
			time.Sleep(time.Millisecond)
		}
	}
	start := clk.Now()

	q.Kick()
	wantRun("first kick", start)
	awaitTimer()
	for range 1000 {
		q.Kick()
	}
	clk.Advance(every / 2)
	wantNoRun("a burst within the interval")
	clk.Advance(every / 2)
	wantRun("the end of the interval after a burst", start.Add(every))
	awaitTimer()
	clk.Advance(every)
	wantNoRun("an interval without kicks")

	clk.Advance(time.Hour)
	q.Kick()
	wantRun("a kick after a quiet spell", start.Add(2*every+time.Hour))
	awaitTimer()
	q.Kick()
	close(stop)
	wantRun("the kick pending at stop", start.Add(2*every+time.Hour))
	<-ended
}

func TestSessionDefaults(t *testing.T) {
	tests := []struct {
		name    string
		in      Config
		wantErr string
	}{
		{name: "zero takes defaults", in: Config{}},
		{name: "negative posture decide interval", in: Config{PostureDecideInterval: -time.Second}, wantErr: "posture decide interval -1s is negative"},
		{name: "negative grant rate", in: Config{GrantRequestRate: -1}, wantErr: "must not be negative"},
		{name: "tiny overlay prefix", in: Config{OverlayPrefix: netip.MustParsePrefix("10.9.0.0/30")}},
		{name: "overlay /32 has no address", in: Config{OverlayPrefix: netip.MustParsePrefix("10.9.0.1/32")}, wantErr: "at most /31"},
		{name: "overlay inside the app range", in: Config{OverlayPrefix: netip.MustParsePrefix("100.80.1.0/24")}, wantErr: "outside the app range"},
		{name: "IPv6 overlay", in: Config{OverlayPrefix: netip.MustParsePrefix("fd00::/64")}, wantErr: "IPv4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.in
			err := cfg.linkDefaults()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("linkDefaults(%+v) = %v, want error containing %q", tt.in, err, tt.wantErr)
			}
			if err == nil && (cfg.PostureDecideInterval <= 0 || cfg.GrantRequestRate <= 0 || cfg.GrantRequestBurst <= 0 || !cfg.OverlayPrefix.IsValid()) {
				t.Errorf("linkDefaults(%+v) left a zero field: %+v", tt.in, cfg)
			}
		})
	}
}

func testSession(queue int) *AgentLink {
	return &AgentLink{device: "dev_test", out: make(chan api.Envelope, queue), done: make(chan struct{}),
		decReady: make(chan struct{}, 1), log: slog.New(slog.DiscardHandler)}
}

func isClosed(s *AgentLink) bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// TestSendClosesALinkThatDoesNotRead: a full queue closes the link
// (it must not stall whoever is sending), but an answer to a message over
// the link's limits is dropped instead.
func TestSendClosesALinkThatDoesNotRead(t *testing.T) {
	s := testSession(2)
	s.trySend(api.TypeError, api.ErrorMsg{Code: "a"})
	s.send(api.TypeRenew, api.Renewal{App: "b"})
	if isClosed(s) {
		t.Fatal("send() closed a link whose queue had room")
	}
	s.trySend(api.TypeError, api.ErrorMsg{Code: api.CodeRateLimited})
	if isClosed(s) {
		t.Fatal("trySend() on a full queue closed the link, want the message dropped")
	}
	s.send(api.TypeRenew, api.Renewal{App: "c"})
	if !isClosed(s) || s.why != "agent is not reading its messages" {
		t.Fatalf("send() on a full queue: closed %v (%q), want closed because the agent is not reading", isClosed(s), s.why)
	}
}

// TestDecisionsLatestSetWins: a decision set waiting to be written is
// replaced by a newer one and never by an older one.
func TestDecisionsLatestSetWins(t *testing.T) {
	set := func(name string) []api.Envelope { return []api.Envelope{{Type: name}} }
	tests := []struct {
		name string
		in   []uint64 // sequence numbers set, each as set "s<n>"
		want string   // the set taken, "" for none
	}{
		{name: "one set", in: []uint64{1}, want: "s1"},
		{name: "newer replaces", in: []uint64{1, 2, 3}, want: "s3"},
		{name: "older ignored", in: []uint64{2, 1}, want: "s2"},
		{name: "nothing set", in: nil, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testSession(1)
			for _, seq := range tt.in {
				s.setDecisions(seq, set(fmt.Sprintf("s%d", seq)))
			}
			got := ""
			if pages := s.TakeDecisions(); len(pages) > 0 {
				got = pages[0].Type
			}
			if got != tt.want {
				t.Errorf("takeDecisions() after %v = %q, want %q", tt.in, got, tt.want)
			}
			if again := s.TakeDecisions(); again != nil {
				t.Errorf("takeDecisions() twice = %v, want nil the second time", again)
			}
		})
	}
}
