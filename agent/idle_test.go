package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent/controltest"
	"github.com/gatehouse-ztna/gatehouse/api"
)

// idleAgent is testAgentWithClock with idle tunnels released after idle.
func idleAgent(t *testing.T, idle time.Duration) (*Agent, *controltest.Controller, *fakeClock) {
	t.Helper()
	return testAgentWith(t, func(c *Config) { c.TunnelIdle = idle })
}

// releasesSince is what the agent released after the fake's message
// after, once it handled everything sent to it (settle's probes left out).
func releasesSince(t *testing.T, fake *controltest.Controller, after int) []api.Release {
	t.Helper()
	settle(t, fake)
	var out []api.Release
	for _, env := range fake.Received()[after:] {
		var rel api.Release
		if env.Type == api.TypeRelease && env.Decode(&rel) == nil && !strings.HasPrefix(rel.App, "probe-") {
			out = append(out, rel)
		}
	}
	return out
}

// TestIdleTunnelIsReleased: a tunnel without a flow is closed and its
// grant released at the end of the idle period, not before, with no
// decision recorded; the next use asks for a new grant.
func TestIdleTunnelIsReleased(t *testing.T) {
	a, fake, clock := idleAgent(t, time.Minute)
	req := connect(t, a, fake, "grafana", time.Hour)
	after := len(fake.Received())
	clock.Advance(59 * time.Second)
	if n := len(a.Status().Tunnels); n != 1 {
		t.Fatalf("tunnels 59s into a 1m idle period = %d, want 1", n)
	}
	if rels := releasesSince(t, fake, after); len(rels) != 0 {
		t.Fatalf("released %+v within the idle period, want nothing", rels)
	}
	clock.Advance(time.Second)
	if n := len(a.Status().Tunnels); n != 0 {
		t.Fatalf("tunnels at the end of the idle period = %d, want 0", n)
	}
	if rels := releasesSince(t, fake, after); len(rels) != 1 || rels[0] != (api.Release{App: "grafana", PublicKey: req.PublicKey}) {
		t.Errorf("released %+v after the idle period, want grafana under %s", rels, req.PublicKey)
	}
	for _, app := range a.Apps() {
		if app.Name == "grafana" && len(app.Reasons) > 0 {
			t.Errorf("grafana's recorded reasons after an idle release = %+v, want none (access did not end)", app.Reasons)
		}
	}
	again := connect(t, a, fake, "grafana", time.Hour)
	if again.PublicKey == req.PublicKey {
		t.Errorf("grant request after an idle release reuses key %s, want a fresh key pair", again.PublicKey)
	}
	if n := len(a.Status().Tunnels); n != 1 {
		t.Errorf("tunnels after asking again = %d, want 1", n)
	}
}

// TestTunnelWithAFlowIsKept: a tracked flow holds the tunnel however long
// it lasts; the idle period counts from the flow's end, and from the last
// hand-out to a front-end.
func TestTunnelWithAFlowIsKept(t *testing.T) {
	a, fake, clock := idleAgent(t, time.Minute)
	connect(t, a, fake, "grafana", 10*time.Hour)
	tun, err := (*access)(a).Tunnel(context.Background(), "grafana")
	if err != nil {
		t.Fatal(err)
	}
	_, server := tcpPair(t)
	if !tun.Track(server) {
		t.Fatal("Track() = false on a live tunnel")
	}
	clock.Advance(5 * time.Hour)
	if n := len(a.Status().Tunnels); n != 1 {
		t.Fatalf("tunnels 5h into an open flow = %d, want 1 (a flow is open)", n)
	}
	tun.Untrack(server)
	clock.Advance(30 * time.Second)
	if _, err := (*access)(a).Tunnel(context.Background(), "grafana"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(59 * time.Second)
	if n := len(a.Status().Tunnels); n != 1 {
		t.Fatalf("tunnels 59s after the last hand-out = %d, want 1", n)
	}
	clock.Advance(time.Second)
	if n := len(a.Status().Tunnels); n != 0 {
		t.Errorf("tunnels 1m after the last hand-out, no flow = %d, want 0", n)
	}
	if tun.Track(server) {
		t.Error("Track() = true on a tunnel released for idleness, want false")
	}
}

// TestExportIsNeverReleasedForIdleness: an exported grant carries no flow
// the agent sees; it lives until its lease, revoke or --release.
func TestExportIsNeverReleasedForIdleness(t *testing.T) {
	a, fake, clock := idleAgent(t, time.Second)
	_, req := exportApp(t, a, fake, "grafana")
	after := len(fake.Received())
	clock.Advance(50 * time.Second)
	if !a.hasExport("grafana") {
		t.Error("export gone after 50 idle seconds with a 1s idle period, want it held until its lease")
	}
	for _, rel := range releasesSince(t, fake, after) {
		if rel.PublicKey == req.PublicKey {
			t.Errorf("the export's grant was released for idleness: %+v", rel)
		}
	}
}

// TestNoIdlePeriodKeepsTunnels: TunnelIdle 0 keeps a tunnel without flows
// for its whole lease.
func TestNoIdlePeriodKeepsTunnels(t *testing.T) {
	a, fake, clock := idleAgent(t, 0)
	connect(t, a, fake, "grafana", 10*time.Hour)
	clock.Advance(9 * time.Hour)
	if n := len(a.Status().Tunnels); n != 1 {
		t.Errorf("tunnels after 9h without flows, no idle period = %d, want 1", n)
	}
}
