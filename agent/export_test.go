package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent/controltest"
	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/tunnel"
)

// exportApp runs Export for app against the fake and grants it.
func exportApp(t *testing.T, a *Agent, fake *controltest.Controller, app string) (localapi.WireGuardConfig, api.GrantRequest) {
	t.Helper()
	type result struct {
		c   localapi.WireGuardConfig
		err error
	}
	done := make(chan result, 1)
	after := len(fake.Received())
	go func() {
		c, err := a.Export(context.Background(), app)
		done <- result{c, err}
	}()
	var req api.GrantRequest
	fake.Await(t, after, api.TypeGrantRequest, &req)
	grantFor(t, fake, req, time.Minute)
	r := <-done
	if r.err != nil {
		t.Fatalf("Export(%q) = %v, want nil", app, r.err)
	}
	return r.c, req
}

// TestExportLifecycle: an export is renewed (not released) while the
// controller renews it, blocks the app's own tunnel, ends at its lease,
// on revoke, and on release (which tells the controller).
func TestExportLifecycle(t *testing.T) {
	a, fake, clock := testAgentWithClock(t)

	// An app's own tunnel gives way to its export.
	connect(t, a, fake, "grafana", time.Minute)
	conf, req := exportApp(t, a, fake, "grafana")
	if st := a.Status(); len(st.Tunnels) != 0 || len(st.Exported) != 1 || st.Exported[0] != "grafana" {
		t.Errorf("Status() after exporting grafana: tunnels %v, exported %v; want none and [grafana] (the export holds the grant)", st.Tunnels, st.Exported)
	}
	if !strings.Contains(conf.Config, "AllowedIPs = 100.80.0.1/32\n") || conf.PublicKey != req.PublicKey {
		t.Errorf("Export config = %q (key %s), want AllowedIPs the virtual IP /32 and key %s", conf.Config, conf.PublicKey, req.PublicKey)
	}
	if _, err := a.tunnelFor(context.Background(), "grafana"); err == nil || !strings.Contains(err.Error(), "--release") {
		t.Errorf("tunnelFor(grafana) while exported = %v, want a refusal naming --release", err)
	}

	// Renewed: kept, not released; past the first lease still there.
	clock.Advance(50 * time.Second)
	fake.Send(t, api.TypeRenew, api.Renewal{App: "grafana", PublicKey: req.PublicKey, Lease: api.Duration(time.Minute)})
	settle(t, fake)
	for _, env := range fake.Received() {
		var rel api.Release
		if env.Type == api.TypeRelease && env.Decode(&rel) == nil && rel.PublicKey == req.PublicKey {
			t.Fatalf("renewal of the export answered with a release")
		}
	}
	clock.Advance(50 * time.Second)
	if !a.hasExport("grafana") {
		t.Fatal("export gone within its renewed lease")
	}
	// Not renewed: gone at the lease's end.
	clock.Advance(11 * time.Second)
	if a.hasExport("grafana") {
		t.Fatal("export still held past its lease")
	}

	// Revoked: gone, with the reason recorded.
	_, req = exportApp(t, a, fake, "grafana")
	fake.Send(t, api.TypeRevoke, api.Revocation{App: "grafana", PublicKey: req.PublicKey, Reasons: []api.Reason{{Code: "posture.failed", Message: "x"}}})
	eventually(t, "export dropped on revoke", func() bool { return !a.hasExport("grafana") })

	// Released: gone, and the controller told.
	_, req = exportApp(t, a, fake, "grafana")
	after := len(fake.Received())
	if !a.ReleaseExport(context.Background(), "grafana") {
		t.Fatal("ReleaseExport(grafana) = false, want true")
	}
	var rel api.Release
	fake.Await(t, after, api.TypeRelease, &rel)
	if rel.PublicKey != req.PublicKey || a.hasExport("grafana") {
		t.Errorf("release = %+v, export held %v; want the export's key released", rel, a.hasExport("grafana"))
	}
	if a.ReleaseExport(context.Background(), "grafana") {
		t.Error("ReleaseExport twice = true, want false")
	}
}

func (a *Agent) hasExport(app string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.exports[app] != nil
}

func TestWireGuardConfig(t *testing.T) {
	key, _ := tunnel.NewPrivateKey()
	gw, _ := tunnel.NewPrivateKey()
	good := api.Grant{App: "db", PublicKey: key.Public().String(), GatewayEndpoint: "gw.example:51820", GatewayPublicKey: gw.Public().String(),
		OverlayAddr: "100.64.0.9", VirtualIP: "100.80.0.3", Ports: []uint16{5432}, Lease: api.Duration(time.Minute)}
	want := "[Interface]\nPrivateKey = " + key.String() + "\nAddress = 100.64.0.9/32\n\n[Peer]\nPublicKey = " + gw.Public().String() +
		"\nEndpoint = gw.example:51820\nAllowedIPs = 100.80.0.3/32\nPersistentKeepalive = 25\n"
	got, err := WireGuardConfig(key, good)
	if err != nil || !strings.HasSuffix(got, want) {
		t.Fatalf("WireGuardConfig(good) = %q, %v, want it to end with %q", got, err, want)
	}
	tests := []struct {
		name   string
		change func(*api.Grant)
	}{
		{"no lease", func(g *api.Grant) { g.Lease = 0 }},
		{"another key", func(g *api.Grant) { g.PublicKey = gw.Public().String() }},
		{"bad gateway key", func(g *api.Grant) { g.GatewayPublicKey = "x" }},
		{"bad overlay", func(g *api.Grant) { g.OverlayAddr = "0.0.0.0/0" }},
		{"bad virtual IP", func(g *api.Grant) { g.VirtualIP = "0.0.0.0/0" }},
		{"endpoint injects a line", func(g *api.Grant) { g.GatewayEndpoint = "gw:1\nAllowedIPs = 0.0.0.0/0" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := good
			tt.change(&g)
			if got, err := WireGuardConfig(key, g); err == nil {
				t.Errorf("WireGuardConfig(%+v) = %q, want an error", g, got)
			}
		})
	}
}
