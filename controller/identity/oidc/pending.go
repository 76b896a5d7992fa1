package oidc

import (
	"crypto/rand"
	"sync"
	"time"
)

// pendingAuth is a sign-in begun and not yet called back: the secrets the
// callback is checked against.
type pendingAuth struct {
	state    string
	nonce    string
	verifier string // PKCE code verifier
	next     string
	expires  time.Time
}

// pendingSet holds pending sign-ins by state: bounded, expiring, each
// taken once.
type pendingSet struct {
	max int

	mu      sync.Mutex // guards byState
	byState map[string]pendingAuth
}

func newPendingSet(max int) *pendingSet {
	return &pendingSet{max: max, byState: map[string]pendingAuth{}}
}

// put adds pa; when full it drops the expired ones, then the oldest.
func (s *pendingSet) put(pa pendingAuth, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byState) >= s.max {
		var oldest string
		for k, v := range s.byState {
			if !now.Before(v.expires) {
				delete(s.byState, k)
			} else if oldest == "" || v.expires.Before(s.byState[oldest].expires) {
				oldest = k
			}
		}
		if len(s.byState) >= s.max {
			delete(s.byState, oldest)
		}
	}
	s.byState[pa.state] = pa
}

// take removes and returns the pending sign-in of state, if it has not
// expired.
func (s *pendingSet) take(state string, now time.Time) (pendingAuth, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pa, ok := s.byState[state]
	delete(s.byState, state)
	if !ok || !now.Before(pa.expires) {
		return pendingAuth{}, false
	}
	return pa, true
}

// len is how many are held (tests).
func (s *pendingSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byState)
}

// randomText is 128 bits or more of randomness, URL-safe.
func randomText() string { return rand.Text() }
