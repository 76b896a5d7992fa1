package grants

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// officeHours is a Policy that allows grafana only from 09:00 to 17:00
// UTC (a condition over request.time), and says its edges are on whole
// minutes, as policy.Snapshot.NextEdge does for such a condition.
type officeHours struct{ *fakePolicy }

func (p officeHours) Decide(user, device, app string, now time.Time) api.Decision {
	if h := now.UTC().Hour(); h >= 9 && h < 17 {
		return p.fakePolicy.Decide(user, device, app, now)
	}
	return api.Decision{App: app, Reasons: []api.Reason{{Code: api.CodePolicyCondition, Message: "outside office hours"}}}
}

func officeEdge(_, _, _ string, now time.Time) time.Time {
	return now.Truncate(time.Minute).Add(time.Minute)
}

// edgeRig is newRig with the office-hours policy and its edges, the clock
// at start.
func edgeRig(t *testing.T, start time.Time, edges func(user, device, app string, now time.Time) time.Time) *rig {
	r := newRig(t)
	r.clock.now = start
	r.m = New(Config{Lease: time.Hour, Clock: r.clock, Policy: officeHours{r.policy}, Presence: r.presence, Overlays: r.overlays, NextEdge: edges})
	r.m.Subscribe(func(e Event) {
		r.evMu.Lock()
		defer r.evMu.Unlock()
		r.events = append(r.events, e)
		r.j.add("event: %s %s", e.Kind, e.PublicKey)
	})
	if err := r.m.RegisterGateway(context.Background(), EmbeddedGateway, r.gw); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.m.Stop)
	return r
}

// TestTimeWindowOpensAndClosesAtItsEdges: on the injected clock, a
// request a moment before the window opens is denied and one at the
// opening is granted (the agent asks again); the live grant is decided
// again at the closing edge — not at its next renewal, an hour away —
// and revoked there: the agent is told and the gateway loses the peer.
func TestTimeWindowOpensAndClosesAtItsEdges(t *testing.T) {
	r := edgeRig(t, time.Date(2026, 12, 7, 8, 59, 59, 0, time.UTC), officeEdge)
	if _, ok := r.request(t, "grafana", "k0").last().(api.Denial); !ok {
		t.Fatalf("Request at 08:59:59 answered %+v, want a denial", r.takeEvents())
	}
	r.clock.Advance(time.Second) // 09:00:00: the window opens
	l := r.request(t, "grafana", "k1")
	if _, ok := l.last().(api.Grant); !ok {
		t.Fatalf("Request at 09:00:00 answered %+v, want a grant", l.last())
	}
	r.takeEvents()

	// Live all day: edges pass each minute, the decision holds.
	r.clock.Advance(7*time.Hour + 59*time.Minute) // 16:59:00
	r.clock.Advance(59 * time.Second)             // 16:59:59
	if _, live := r.gw.peer("k1"); !live || len(r.takeEvents()) != 0 {
		t.Fatalf("at 16:59:59 the peer is live=%v, want live and no event", live)
	}
	r.clock.Advance(time.Second) // 17:00:00: the window closes
	evs := r.takeEvents()
	if got := kinds(evs); !slices.Equal(got, []Kind{Revoked}) || !hasCode(evs[0].Reasons, api.CodePolicyCondition) {
		t.Fatalf("events at 17:00:00 = %+v, want one revocation with %s", evs, api.CodePolicyCondition)
	}
	if _, live := r.gw.peer("k1"); live {
		t.Errorf("at 17:00:00 the gateway still holds the peer")
	}
	if got := r.j.all(); !slices.Contains(got, "embedded: remove k1") {
		t.Errorf("journal = %q, want the peer removed from the gateway", got)
	}
	r.m.edgeMu.Lock()
	pending := r.m.edgeTimer != nil
	r.m.edgeMu.Unlock()
	if pending {
		t.Errorf("an edge timer is pending with no live grant")
	}
}

// TestNoEdgeNoRedecision: a grant whose decision reads no clock is not
// decided again on any timer (only renewals and changes decide it).
func TestNoEdgeNoRedecision(t *testing.T) {
	r := edgeRig(t, time.Date(2026, 12, 7, 16, 59, 0, 0, time.UTC), func(string, string, string, time.Time) time.Time { return time.Time{} })
	r.request(t, "grafana", "k1")
	before := r.policy.decisions
	r.clock.Advance(2 * time.Minute)
	if r.policy.decisions != before {
		t.Errorf("decisions after 2 min with no edge = %d, want %d", r.policy.decisions, before)
	}
}
