package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
	"github.com/gatehouse-ztna/gatehouse/controller"
	"github.com/gatehouse-ztna/gatehouse/gateway"
	"github.com/gatehouse-ztna/gatehouse/gateway/link"
	"github.com/gatehouse-ztna/gatehouse/tunnel"
)

// RemoteGateway enrolls a standalone gateway called name with a real
// gateway token and runs it in this process, dialing the controller over
// its own websocket as gatehouse-gateway does, and waits until it is
// online. Its apps are those created with Gateway: name.
func (e *Env) RemoteGateway(t testing.TB, name string) *gateway.Gateway {
	t.Helper()
	ctx := context.Background()
	tok, err := e.Admin.GatewayToken(ctx, name, time.Hour)
	Must(t, err)
	ca, err := os.ReadFile(e.Server.CAFile())
	Must(t, err)
	dir := t.TempDir()
	st, err := link.Enroll(ctx, link.EnrollOptions{Controller: e.Server.URL(), Token: tok.Token, CAPEM: ca, StateDir: dir})
	if err != nil {
		t.Fatalf("link.Enroll(%s) = %v", name, err)
	}
	_, key, caPEM, err := link.Load(dir)
	Must(t, err)
	wg, err := tunnel.NewPrivateKey()
	Must(t, err)
	gw, err := gateway.New(gateway.Config{PrivateKey: wg, PublicHost: "127.0.0.1", Logger: e.Log.With("component", "gateway", "gateway", name)})
	Must(t, err)
	l, err := link.New(link.Config{Controller: st.Controller, CAPEM: caPEM, GatewayID: st.GatewayID, Key: key,
		Version: "test", Gateway: gw, Logger: e.Log.With("component", "link", "gateway", name)})
	Must(t, err)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(runCtx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		gw.Close()
	})
	Eventually(t, 5*time.Second, func() error {
		gs, err := adminclient.List[api.Gateway](ctx, e.Admin, api.PathGateways)
		if err != nil {
			return err
		}
		for _, g := range gs {
			if g.Name == name && g.State == api.GatewayOnline {
				return nil
			}
		}
		return fmt.Errorf("gateway %s not online yet: %+v", name, gs)
	})
	if e.Remotes == nil {
		e.Remotes = map[string]*gateway.Gateway{}
	}
	e.Remotes[name] = gw
	return gw
}

// TestUncooperativeClientCutAtRemoteGateway: an app behind a standalone
// gateway; a client holding its grant ignores the revoke. The remote
// gateway alone cuts the flow when posture fails and when an admin takes
// access away, and holds no peer of an app that is not its own.
func TestUncooperativeClientCutAtRemoteGateway(t *testing.T) {
	for _, path := range []string{"posture flip", "admin change"} {
		t.Run(path, func(t *testing.T) {
			env := New(t, Options{})
			env.Standard(t)
			siteA := env.RemoteGateway(t, "site-a")
			ctx := context.Background()
			Must(t, adminclient.Create(ctx, env.Admin, api.PathApps, &api.App{Name: "ledger", Upstreams: []string{env.Upstream(t, "ledger")}, Gateway: "site-a"}))
			Must(t, adminclient.Create(ctx, env.Admin, api.PathPolicies, &api.Policy{Name: "eng-ledger", Groups: []string{"eng"},
				Apps: []string{"ledger"}, PostureProfiles: []string{"secure"}}))

			p := env.RawPeer(t, "alice")
			g := p.Grant("ledger")
			if g.GatewayPublicKey != siteA.PublicKey() {
				t.Fatalf("grant for ledger names gateway key %s, want site-a's %s", g.GatewayPublicKey, siteA.PublicKey())
			}
			other := p.Grant("grafana") // an embedded-gateway app: never on site-a
			s := g.OpenStream(g.Port())
			for _, peer := range siteA.Peers(ctx) {
				if peer.PublicKey == other.PublicKey {
					t.Errorf("site-a holds grafana's peer %s: a grant reached another app's gateway", peer.PublicKey)
				}
			}
			if len(siteA.Peers(ctx)) != 1 {
				t.Errorf("site-a peers = %+v, want only ledger's", siteA.Peers(ctx))
			}

			start := time.Now()
			switch path {
			case "posture flip":
				failing := passingPostureReport()
				failing.DiskEncryption = api.KnownBool(false)
				p.SendPosture(failing)
			case "admin change":
				Must(t, env.Admin.RemoveMember(ctx, "eng", "alice"))
			}
			g.AssertGatewayCut(s, time.Second)
			t.Logf("%s: remote gateway cut the uncooperative client %s after the change", path, time.Since(start).Round(time.Millisecond))
		})
	}
}

// BenchmarkAdminChangeAtRemoteGateway measures, from an admin change (the
// user taken out of the group that grants the app) to the flow's reset,
// how long a standalone gateway takes to enforce it on a client that
// ignores revoke; each trial restores membership and takes a fresh grant.
// Target: p99 ≤ 100 ms.
func BenchmarkAdminChangeAtRemoteGateway(b *testing.B) {
	// Trials ask for grants faster than the per-session limit allows, by
	// design (see BenchmarkColdConnect).
	env := New(b, Options{Controller: func(c *controller.Config) {
		c.GrantRequestRate, c.GrantRequestBurst = 1000, 1000
	}})
	env.Standard(b)
	env.RemoteGateway(b, "site-a")
	ctx := context.Background()
	Must(b, adminclient.Create(ctx, env.Admin, api.PathApps, &api.App{Name: "ledger", Upstreams: []string{env.Upstream(b, "ledger")}, Gateway: "site-a"}))
	Must(b, adminclient.Create(ctx, env.Admin, api.PathPolicies, &api.Policy{Name: "eng-ledger", Groups: []string{"eng"}, Apps: []string{"ledger"}}))
	p := env.RawPeer(b, "alice")

	var lat []time.Duration
	trial := func() int {
		g := p.Grant("ledger")
		s := g.OpenStream(g.Port())
		t0 := time.Now()
		Must(b, env.Admin.RemoveMember(ctx, "eng", "alice"))
		select {
		case <-s.ended:
		case <-time.After(10 * time.Second):
			b.Fatalf("trial %d: flow still alive 10s after the admin change", len(lat)+1)
		}
		lat = append(lat, time.Since(t0))
		Eventually(b, 100*time.Millisecond, func() error {
			if !s.resetSeen() {
				return fmt.Errorf("trial %d: flow ended without a reset from the remote gateway", len(lat))
			}
			return nil
		})
		g.close()
		Must(b, env.Admin.AddMember(ctx, "eng", "alice"))
		return len(lat)
	}
	runTrials(b, benchRevocationTrials, trial)
	reportLatencies(b, "", lat)
	b.ReportMetric(float64(len(lat)), "trials")
}
