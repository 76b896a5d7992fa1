package identity

import (
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Backoff is how failures on one key slow down the next attempt: the
// first Free failures cost nothing, then each doubles the wait from Base
// up to Max.
type Backoff struct {
	Free int
	Base time.Duration
	Max  time.Duration
}

// delay is the wait after failures failures.
func (b Backoff) delay(failures int) time.Duration {
	over := failures - b.Free
	if over <= 0 {
		return 0
	}
	d := b.Base
	for i := 1; i < over && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// ThrottleConfig sets the sign-in throttle.
type ThrottleConfig struct {
	// Account slows guesses at one account from sources it has not signed
	// in from; also used per (account, known source).
	Account Backoff
	// Source slows one address (an IPv6 /64) across accounts.
	Source Backoff
	// Forget drops a key's failures after this long without one.
	Forget time.Duration
	// KnownFor is how long a source that signed in to an account stays
	// exempt from that account's backoff (only its own counts).
	KnownFor time.Duration
	// MaxKeys bounds the memory: past it, forgotten keys are dropped, then
	// the stalest.
	MaxKeys int
}

// DefaultThrottle: an account costs an attacker a doubling wait after 5
// failures, at most 5 minutes (so the real user waits at most that, and
// never at all from a network they signed in from before); an address
// after 20 failures, at most an hour.
var DefaultThrottle = ThrottleConfig{
	Account:  Backoff{Free: 5, Base: time.Second, Max: 5 * time.Minute},
	Source:   Backoff{Free: 20, Base: time.Second, Max: time.Hour},
	Forget:   24 * time.Hour,
	KnownFor: 30 * 24 * time.Hour,
	MaxKeys:  100_000,
}

// Throttle is the sign-in backoff: per account, per source address, and
// per (account, source) for sources the account signed in from before.
// It never locks: an attempt after its wait is always checked. It lives
// in memory (see docs/identity.md) and is safe for concurrent use.
type Throttle struct {
	cfg   ThrottleConfig
	clock Clock

	mu    sync.Mutex                      // guards keys and known
	keys  map[string]*failures            // "a:" account, "s:" source, "p:" account|source
	known map[string]map[string]time.Time // account → source → last good sign-in
}

type failures struct {
	n    int
	last time.Time // of the last failure counted
	next time.Time // no attempt before
}

// NewThrottle returns an empty throttle.
func NewThrottle(cfg ThrottleConfig, clock Clock) *Throttle {
	return &Throttle{cfg: cfg, clock: clock, keys: map[string]*failures{}, known: map[string]map[string]time.Time{}}
}

// sourceKey groups addresses the way one party holds them: an IPv4
// address, an IPv6 /64.
func sourceKey(src netip.Addr) string {
	src = src.Unmap()
	switch {
	case src.Is4():
		return src.String()
	case src.Is6():
		p, _ := src.Prefix(64)
		return p.String()
	}
	return "unknown"
}

// Attempt is one admitted sign-in attempt. It is booked as a failure when
// admitted (so parallel guesses wait too); Pass or Cancel take that back.
type Attempt struct {
	t          *Throttle
	account    string
	src        string
	accountKey string // "a:…" or, for a known source, "p:…"
}

// Begin admits an attempt on account from src, or says how long to wait.
func (t *Throttle) Begin(account string, src netip.Addr) (*Attempt, time.Duration) {
	if len(account) > maxAccountKey { // no real name is this long; keys stay small
		account = account[:maxAccountKey]
	}
	now := t.clock.Now()
	a := &Attempt{t: t, account: account, src: sourceKey(src), accountKey: "a:" + account}
	t.mu.Lock()
	defer t.mu.Unlock()
	if at, ok := t.known[account][a.src]; ok && now.Sub(at) < t.cfg.KnownFor {
		a.accountKey = "p:" + account + "|" + a.src
	}
	wait := max(t.wait(a.accountKey, now), t.wait("s:"+a.src, now))
	if wait > 0 {
		return nil, wait
	}
	t.fail(a.accountKey, t.cfg.Account, now)
	t.fail("s:"+a.src, t.cfg.Source, now)
	return a, 0
}

// wait is how long key must wait at now.
func (t *Throttle) wait(key string, now time.Time) time.Duration {
	f := t.keys[key]
	if f == nil || now.Sub(f.last) >= t.cfg.Forget {
		return 0
	}
	return max(f.next.Sub(now), 0)
}

// fail counts a failure on key at now.
func (t *Throttle) fail(key string, b Backoff, now time.Time) {
	f := t.keys[key]
	if f == nil || now.Sub(f.last) >= t.cfg.Forget {
		t.makeRoom(now)
		f = &failures{}
		t.keys[key] = f
	}
	f.n++
	f.last = now
	f.next = now.Add(b.delay(f.n))
}

// undo takes back one failure counted on key.
func (t *Throttle) undo(key string, b Backoff) {
	if f := t.keys[key]; f != nil && f.n > 0 {
		f.n--
		f.next = f.last.Add(b.delay(f.n))
	}
}

// makeRoom keeps len(keys) under MaxKeys: drops forgotten keys, then, if
// still full, the half with the oldest failures.
func (t *Throttle) makeRoom(now time.Time) {
	if len(t.keys) < t.cfg.MaxKeys {
		return
	}
	var oldest time.Time
	for k, f := range t.keys {
		if now.Sub(f.last) >= t.cfg.Forget {
			delete(t.keys, k)
		} else if oldest.IsZero() || f.last.Before(oldest) {
			oldest = f.last
		}
	}
	if len(t.keys) < t.cfg.MaxKeys {
		return
	}
	cut := oldest.Add(now.Sub(oldest) / 2)
	for k, f := range t.keys {
		if !f.last.After(cut) {
			delete(t.keys, k)
		}
	}
}

// Fail keeps the failure the attempt was booked as.
func (a *Attempt) Fail() {}

// Cancel takes the booked failure back: the attempt was neither right nor
// wrong (a right password still needing its code, a store error).
func (a *Attempt) Cancel() {
	t := a.t
	t.mu.Lock()
	defer t.mu.Unlock()
	t.undo(a.accountKey, t.cfg.Account)
	t.undo("s:"+a.src, t.cfg.Source)
}

// Pass records a successful sign-in: the backoff it was checked against
// (the account's, or the account's from this known source) is cleared, the
// source's failure taken back (its other failures stay: a valid account
// must not wash an address's record) and the source becomes known to the
// account.
func (a *Attempt) Pass() {
	t := a.t
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.keys, a.accountKey) // from a known source, the account's own backoff stays for the others
	t.undo("s:"+a.src, t.cfg.Source)
	srcs := t.known[a.account]
	if srcs == nil {
		if len(t.known) >= t.cfg.MaxKeys {
			t.forgetKnown(now)
		}
		srcs = map[string]time.Time{}
		t.known[a.account] = srcs
	}
	if len(srcs) >= maxKnownSources {
		oldestKey, oldest := "", now
		for s, at := range srcs {
			if at.Before(oldest) {
				oldestKey, oldest = s, at
			}
		}
		delete(srcs, oldestKey)
	}
	srcs[a.src] = now
}

// maxAccountKey bounds the account name a key holds, in bytes.
const maxAccountKey = 256

// maxKnownSources is how many known sources an account keeps.
const maxKnownSources = 16

// forgetKnown drops known sources past KnownFor.
func (t *Throttle) forgetKnown(now time.Time) {
	for acct, srcs := range t.known {
		for s, at := range srcs {
			if now.Sub(at) >= t.cfg.KnownFor {
				delete(srcs, s)
			}
		}
		if len(srcs) == 0 {
			delete(t.known, acct)
		}
	}
}

// Unlock clears account's backoff, from every source.
func (t *Throttle) Unlock(account string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.keys, "a:"+account)
	prefix := "p:" + account + "|"
	for k := range t.keys {
		if strings.HasPrefix(k, prefix) {
			delete(t.keys, k)
		}
	}
}

// UnlockSource clears src's backoff.
func (t *Throttle) UnlockSource(src netip.Addr) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.keys, "s:"+sourceKey(src))
}
