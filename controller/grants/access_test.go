package grants

import (
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// TestLeaseNeverPastAccess: a grant under just-in-time access gets no
// lease past the access's end, at issue or at renewal, so the gateway
// drops the peer then on its own clock; once the access has ended the
// grant is not renewed and expires.
func TestLeaseNeverPastAccess(t *testing.T) {
	r := newRig(t)
	until := r.clock.Now().Add(90 * time.Second)
	r.policy.set(func(map[string]api.App, map[string]bool) { r.policy.until = map[string]time.Time{"grafana": until} })
	l := r.request(t, "grafana", "k1")
	if g, ok := l.last().(api.Grant); !ok || time.Duration(g.Lease) != testLease {
		t.Fatalf("grant = %+v, want lease %s (access ends later)", l.last(), testLease)
	}
	r.clock.Advance(40 * time.Second)
	r.m.ReevaluateAll(ctx)
	r.m.RenewAll(ctx)
	pc, ok := r.gw.peer("k1")
	if want := 50 * time.Second; !ok || time.Duration(pc.Lease) != want {
		t.Fatalf("renewed peer lease = %v (installed %v), want %v: never past the access's end", time.Duration(pc.Lease), ok, want)
	}
	r.clock.Advance(50 * time.Second) // the access ends now
	r.m.RenewAll(ctx)
	if _, ok := r.gw.peer("k1"); ok {
		t.Errorf("peer still installed at the access's end, want it expired")
	}
	evs := r.takeEvents()
	if last := evs[len(evs)-1]; last.Kind != Expired {
		t.Errorf("last event = %v, want expired", last.Kind)
	}
}
