package identity

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Free: 3, Base: time.Second, Max: 10 * time.Second}
	tests := []struct {
		failures int
		want     time.Duration
	}{
		{0, 0}, {3, 0}, {4, time.Second}, {5, 2 * time.Second}, {6, 4 * time.Second}, {7, 8 * time.Second}, {8, 10 * time.Second}, {1000, 10 * time.Second},
	}
	for _, tt := range tests {
		if got := b.delay(tt.failures); got != tt.want {
			t.Errorf("delay(%d) = %v, want %v", tt.failures, got, tt.want)
		}
	}
}

var testThrottle = ThrottleConfig{
	Account:  Backoff{Free: 3, Base: time.Second, Max: time.Minute},
	Source:   Backoff{Free: 10, Base: time.Second, Max: time.Hour},
	Forget:   24 * time.Hour,
	KnownFor: 30 * 24 * time.Hour,
	MaxKeys:  1000,
}

var (
	home     = netip.MustParseAddr("192.0.2.10")
	attacker = netip.MustParseAddr("203.0.113.66")
)

// fails begins and fails n attempts on account from src, which must all
// be admitted.
func fails(t *testing.T, th *Throttle, account string, src netip.Addr, n int) {
	t.Helper()
	for i := range n {
		a, wait := th.Begin(account, src)
		if a == nil {
			t.Fatalf("attempt %d on %s from %v throttled for %v, want admitted", i+1, account, src, wait)
		}
		a.Fail()
	}
}

func TestThrottleBackoff(t *testing.T) {
	clk := &fakeClock{t: start}
	th := NewThrottle(testThrottle, clk)
	fails(t, th, "alice", attacker, 3) // free
	waits := []time.Duration{}
	for range 8 {
		fails(t, th, "alice", attacker, 1)
		_, wait := th.Begin("alice", attacker)
		waits = append(waits, wait)
		// Hammering during the wait is refused and not counted: the wait
		// does not grow, so the account is never locked for good.
		for range 100 {
			if a, w := th.Begin("alice", attacker); a != nil || w != wait {
				t.Fatalf("attempt during the wait: admitted %v, wait %v, want refused with %v", a != nil, w, wait)
			}
		}
		clk.Advance(wait)
	}
	want := fmt.Sprint([]time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute})
	if fmt.Sprint(waits) != want {
		t.Errorf("waits after each failure = %v, want %v", waits, want)
	}
}

func TestThrottleKnownSourceNotLockedOut(t *testing.T) {
	clk := &fakeClock{t: start}
	th := NewThrottle(testThrottle, clk)
	a, _ := th.Begin("alice", home)
	a.Pass() // alice signed in from home before
	// An attacker from many addresses drives alice's backoff to its cap.
	for i := range 20 {
		clk.Advance(time.Minute)
		src := netip.AddrFrom4([4]byte{203, 0, 113, byte(i)})
		if a, _ := th.Begin("alice", src); a != nil {
			a.Fail()
		}
	}
	if a, wait := th.Begin("alice", netip.MustParseAddr("198.51.100.1")); a != nil || wait == 0 {
		t.Fatalf("a new source for alice after 20 failures: admitted, want throttled")
	}
	// alice at home is not held up.
	a, wait := th.Begin("alice", home)
	if a == nil {
		t.Fatalf("alice from her known source throttled for %v, want admitted", wait)
	}
	a.Pass()
	// Her success does not wash the attacker's backoff on the account.
	if a, wait := th.Begin("alice", attacker); a != nil || wait == 0 {
		t.Errorf("after alice's sign-in, an unknown source was admitted, want still throttled")
	}
}

func TestThrottleSource(t *testing.T) {
	clk := &fakeClock{t: start}
	th := NewThrottle(testThrottle, clk)
	// One address guessing across accounts is slowed after Source.Free.
	for i := range 11 {
		fails(t, th, fmt.Sprint("user", i), attacker, 1)
	}
	if a, wait := th.Begin("someone-else", attacker); a != nil || wait != time.Second {
		t.Errorf("12th attempt from one address: admitted %v, wait %v, want throttled for 1s", a != nil, wait)
	}
	// An IPv6 /64 is one source.
	v6 := func(last byte) netip.Addr {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, last})
	}
	for i := range 11 {
		fails(t, th, fmt.Sprint("v6user", i), v6(byte(i)), 1)
	}
	if a, _ := th.Begin("v6-other", v6(200)); a != nil {
		t.Errorf("another address of the same /64 admitted after 11 failures from it, want throttled")
	}
	th.UnlockSource(attacker)
	if a, _ := th.Begin("someone-else", attacker); a == nil {
		t.Errorf("UnlockSource: still throttled")
	}
}

func TestThrottleOutcomes(t *testing.T) {
	cfg := testThrottle
	cfg.Account.Free = 0 // every failure costs
	tests := []struct {
		name     string
		do       func(th *Throttle, clk *fakeClock)
		wantWait time.Duration
	}{
		{name: "an admitted attempt counts until resolved", do: func(th *Throttle, _ *fakeClock) { th.Begin("alice", attacker) }, wantWait: time.Second},
		{name: "fail", do: func(th *Throttle, _ *fakeClock) { a, _ := th.Begin("alice", attacker); a.Fail() }, wantWait: time.Second},
		{name: "cancel takes it back", do: func(th *Throttle, _ *fakeClock) { a, _ := th.Begin("alice", attacker); a.Cancel() }},
		{name: "pass clears", do: func(th *Throttle, clk *fakeClock) {
			a, _ := th.Begin("alice", attacker)
			a.Fail()
			clk.Advance(time.Second)
			a, _ = th.Begin("alice", attacker)
			a.Pass()
		}},
		{name: "unlock clears", do: func(th *Throttle, clk *fakeClock) {
			a, _ := th.Begin("alice", attacker)
			a.Fail()
			th.Unlock("alice")
		}},
		{name: "failures are forgotten", do: func(th *Throttle, clk *fakeClock) {
			a, _ := th.Begin("alice", attacker)
			a.Fail()
			clk.Advance(24 * time.Hour)
		}},
		{name: "another account is not slowed", do: func(th *Throttle, clk *fakeClock) {
			a, _ := th.Begin("bob", attacker)
			a.Fail()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &fakeClock{t: start}
			th := NewThrottle(cfg, clk)
			tt.do(th, clk)
			a, wait := th.Begin("alice", attacker)
			if wait != tt.wantWait || (a == nil) != (tt.wantWait > 0) {
				t.Errorf("Begin after: admitted %v, wait %v, want wait %v", a != nil, wait, tt.wantWait)
			}
		})
	}
}

func TestThrottleBounded(t *testing.T) {
	clk := &fakeClock{t: start}
	cfg := testThrottle
	cfg.MaxKeys = 100
	th := NewThrottle(cfg, clk)
	for i := range 1000 {
		fails(t, th, fmt.Sprint("u", i), netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 1)
		clk.Advance(time.Millisecond)
	}
	if n := len(th.keys); n > cfg.MaxKeys {
		t.Errorf("throttle holds %d keys, want at most %d", n, cfg.MaxKeys)
	}
}

// TestCheckPasswordThrottled: through the Service, brute force is slowed
// and told when to retry; while throttled even the right password is not
// checked; after the wait it works.
func TestCheckPasswordThrottled(t *testing.T) {
	e := newEnv(t, Config{Throttle: testThrottle})
	e.user(t, "alice")
	for range 3 {
		if _, err := e.CheckPassword(t.Context(), Login{User: "alice", Password: "guess", Source: attacker}); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("CheckPassword(guess) = %v, want %v", err, ErrBadCredentials)
		}
	}
	_, err := e.CheckPassword(t.Context(), Login{User: "alice", Password: "guess", Source: attacker})
	if !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("4th guess = %v, want %v (admitted, then slowed)", err, ErrBadCredentials)
	}
	e.take()
	_, err = e.CheckPassword(t.Context(), Login{User: "alice", Password: pw, Source: attacker})
	var te *ThrottledError
	if !errors.As(err, &te) || !errors.Is(err, ErrThrottled) || te.RetryAfter != time.Second {
		t.Fatalf("CheckPassword during the backoff = %v, want a ThrottledError to retry after 1s", err)
	}
	if got := e.kinds(); !hasKinds(got, LoginThrottled) {
		t.Errorf("events = %v, want [%v]", got, LoginThrottled)
	}
	e.clock.Advance(te.RetryAfter)
	if _, err := e.CheckPassword(t.Context(), Login{User: "alice", Password: pw, Source: attacker}); err != nil {
		t.Errorf("CheckPassword after the wait = %v, want nil", err)
	}
	// Admin unlock: needs sessions write; then the backoff is gone.
	for range 5 {
		e.CheckPassword(t.Context(), Login{User: "alice", Password: "guess", Source: attacker})
	}
	if err := e.Unlock(Principal{Kind: PrincipalToken, Name: "ro", Role: Auditor}, "alice"); !errors.Is(err, ErrForbidden) {
		t.Errorf("Unlock by an auditor = %v, want %v", err, ErrForbidden)
	}
	if err := e.Unlock(Principal{Kind: PrincipalUser, Name: "hd", Role: Helpdesk}, "alice"); err != nil {
		t.Fatalf("Unlock by helpdesk = %v", err)
	}
	if _, err := e.CheckPassword(t.Context(), Login{User: "alice", Password: pw, Source: netip.MustParseAddr("198.51.100.1")}); err != nil {
		t.Errorf("CheckPassword after Unlock = %v, want nil", err)
	}
}
