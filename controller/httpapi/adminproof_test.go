package httpapi

import (
	"errors"
	"testing"
	"time"
)

// TestProofNoncesOnceBoundedFailClosed: a nonce is accepted once while
// its proof is fresh; a full cache forgets stale nonces first and then
// refuses rather than forget a live one.
func TestProofNoncesOnceBoundedFailClosed(t *testing.T) {
	now := time.Unix(1000, 0)
	n := newProofNonces(2, func() time.Time { return now })
	spend := func(nonce string, until time.Time, wantFresh bool, wantErr error) {
		t.Helper()
		fresh, err := n.spend(nonce, until)
		if fresh != wantFresh || !errors.Is(err, wantErr) {
			t.Errorf("spend(%q) = %v, %v, want %v, %v", nonce, fresh, err, wantFresh, wantErr)
		}
	}
	spend("a", now.Add(time.Minute), true, nil)
	spend("a", now.Add(time.Minute), false, nil)
	spend("b", now.Add(10*time.Second), true, nil)
	spend("c", now.Add(time.Minute), false, errProofsFull) // full of live nonces
	now = now.Add(11 * time.Second)                        // b is stale now
	spend("c", now.Add(time.Minute), true, nil)
	spend("a", now.Add(time.Minute), false, nil) // still remembered
	if n.held() != 2 {
		t.Errorf("cache holds %d nonces, want 2", n.held())
	}
}
