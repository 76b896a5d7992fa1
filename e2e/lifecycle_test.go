package e2e

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent"
	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
	"github.com/gatehouse-ztna/gatehouse/posture"
)

// TestDeletedUserLosesDevicesAndAccess: deleting a user ends their
// devices' sessions and grants at once, and re-creating the name does not
// bring the old device back.
func TestDeletedUserLosesDevicesAndAccess(t *testing.T) {
	env := New(t, Options{})
	env.Standard(t)
	ctx := context.Background()
	a := env.Agent(t, "alice")
	a.Decision("grafana", true, 5*time.Second)
	stream := a.OpenStream("grafana")

	start := time.Now()
	Must(t, env.Admin.Delete(ctx, api.PathUsers, "alice"))
	stream.AwaitEnd(t, time.Second-time.Since(start))
	if peers := env.Gateway.Peers(ctx); len(peers) != 0 {
		t.Errorf("gateway peers after deleting the user = %+v, want none", peers)
	}

	Must(t, adminclient.Create(ctx, env.Admin, api.PathUsers, &api.User{Name: "alice", Groups: []string{"eng"}}))
	time.Sleep(time.Second) // the old agent keeps trying to reconnect
	if got, err := a.Get("grafana", "/"); err == nil {
		t.Fatalf("Get(grafana) from the deleted user's device = %q, want refused", got)
	}
	if a.Status().Connected {
		t.Error("the deleted user's device is connected again")
	}
	devs, err := adminclient.List[api.Device](ctx, env.Admin, api.PathDevices)
	Must(t, err)
	if len(devs) != 0 {
		t.Errorf("devices after re-creating the user = %+v, want none", devs)
	}
}

// stallingSource stops answering once stalled, as a hung collector or a
// tampered agent that stops reporting would.
type stallingSource struct {
	posture.Source
	stalled atomic.Bool
}

func (s *stallingSource) Collect(ctx context.Context, q api.PostureQuery) api.PostureReport {
	if s.stalled.Load() {
		<-ctx.Done()
	}
	return s.Source.Collect(ctx, q)
}

// TestStalePostureFailsClosed: a device whose reports stop (while its
// session stays up) loses its grants once its last report is too old.
func TestStalePostureFailsClosed(t *testing.T) {
	const heartbeat = 300 * time.Millisecond
	env := New(t, Options{HeartbeatInterval: heartbeat, LeaseTTL: 1500 * time.Millisecond})
	env.Standard(t)
	var src *stallingSource
	a := env.AgentWith(t, "alice", func(c *agent.Config) {
		src = &stallingSource{Source: c.Posture}
		c.Posture = src
	})
	a.Decision("grafana", true, 5*time.Second)
	stream := a.OpenStream("grafana")

	src.stalled.Store(true)
	// Stale after 3 heartbeats + 2 s; noticed at the next renewal round.
	stream.AwaitEnd(t, 3*heartbeat+2*time.Second+time.Second)
	if !a.Status().Connected {
		t.Error("agent session dropped; the test meant to keep it up while reports stop")
	}
	reasons := a.Decision("grafana", false, time.Second)
	if !hasReason(reasons, "unknown") {
		t.Errorf("reasons = %+v, want posture unknown", reasons)
	}
}

// TestControllerRestartRebuildsTunnels: a restarted controller clears the
// gateway of peers it does not know, the agent drops the tunnels the new
// controller does not hold, and the next connection gets a fresh one.
func TestControllerRestartRebuildsTunnels(t *testing.T) {
	env, a := NewStandard(t, Options{})
	if _, err := a.Get("grafana", "/"); err != nil {
		t.Fatal(err)
	}
	before := env.Gateway.Peers(context.Background())

	env.RestartController(t)
	if peers := env.Gateway.Peers(context.Background()); len(peers) != 0 {
		t.Errorf("gateway peers after the controller restarted = %+v, want none", peers)
	}
	Eventually(t, 5*time.Second, func() error {
		s := a.Status()
		if !s.Connected || len(s.Tunnels) != 0 {
			return errors.New("agent not reconnected, or still holds the old tunnel")
		}
		return nil
	})
	a.Decision("grafana", true, 5*time.Second)
	if got, err := a.Get("grafana", "/"); err != nil || got != "hello from grafana" {
		t.Fatalf("Get(grafana) after restart = %q, %v, want %q", got, err, "hello from grafana")
	}
	after := env.Gateway.Peers(context.Background())
	if len(after) != 1 || after[0].PublicKey == before[0].PublicKey {
		t.Errorf("peers = %+v, want one new tunnel (old key %s)", after, before[0].PublicKey)
	}
}

// TestBurstOfFirstConnectionsSharesOneTunnel: many connections racing to
// bring an app's tunnel up get one tunnel, and every one of them is served.
func TestBurstOfFirstConnectionsSharesOneTunnel(t *testing.T) {
	env, a := NewStandard(t, Options{})
	a.Addr("grafana")

	const n = 50
	errs := make(chan error, n)
	for range n {
		go func() {
			got, err := a.Get("grafana", "/")
			if err == nil && got != "hello from grafana" {
				err = errors.New("unexpected body " + got)
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("concurrent first Get(grafana) = %v, want success", err)
		}
	}
	if peers := env.Gateway.Peers(context.Background()); len(peers) != 1 {
		t.Errorf("gateway peers after a burst = %+v, want exactly one tunnel", peers)
	}
	if tunnels := a.Status().Tunnels; len(tunnels) != 1 {
		t.Errorf("agent tunnels after a burst = %+v, want exactly one", tunnels)
	}
}

// TestOverriddenPostureIsUnknownToAStrictController: a production
// controller does not take an override file's word for a fact.
func TestOverriddenPostureIsUnknownToAStrictController(t *testing.T) {
	env := New(t, Options{StrictPosture: true})
	env.Standard(t)
	a := env.Agent(t, "alice") // its override file says encrypted and firewalled
	reasons := a.Decision("grafana", false, 5*time.Second)
	for _, want := range []string{"the state of disk encryption is unknown", "the state of the firewall is unknown"} {
		if !hasReason(reasons, want) {
			t.Errorf("reasons = %+v, want %q", reasons, want)
		}
	}
	if got, err := a.Get("grafana", "/"); err == nil {
		t.Errorf("Get(grafana) with overridden posture = %q, want refused", got)
	}
	if rep := a.Posture().Report; rep == nil || !slices.Contains(rep.Overridden, "disk_encryption") {
		t.Errorf("agent's report = %+v, want disk_encryption listed as overridden", rep)
	}
	if !env.Logs.Contains("agent reports overridden posture facts; treating them as unknown") {
		t.Error("the distrusted override was not logged")
	}
}

// TestDeletedDeviceLosesAccess: an admin removing a device ends its
// session and grants at once, and it cannot come back without enrolling.
func TestDeletedDeviceLosesAccess(t *testing.T) {
	env := New(t, Options{})
	env.Standard(t)
	ctx := context.Background()
	a := env.Agent(t, "alice")
	a.Decision("grafana", true, 5*time.Second)
	stream := a.OpenStream("grafana")

	start := time.Now()
	Must(t, env.Admin.Delete(ctx, api.PathDevices, a.Status().DeviceID))
	stream.AwaitEnd(t, time.Second-time.Since(start))
	if peers := env.Gateway.Peers(ctx); len(peers) != 0 {
		t.Errorf("gateway peers after deleting the device = %+v, want none", peers)
	}
	time.Sleep(time.Second) // the agent keeps trying to reconnect
	if a.Status().Connected {
		t.Error("the deleted device is connected again")
	}
	if st := a.Status(); !strings.Contains(st.LastError, "unknown device") {
		t.Errorf("agent's last error = %q, want it to say the device is unknown", st.LastError)
	}
}

// TestGatewayLostPeerRevokesAndAgentAsksAgain: a gateway that lost a
// grant's peer (here removed behind the controller's back, as a restart
// or its own expiry would) answers the next renewal "no such peer"; the
// controller revokes the grant with gateway.lost_grant at once, so the
// agent drops its dead tunnel and its next connection gets a new one,
// instead of failing until the lease ends.
func TestGatewayLostPeerRevokesAndAgentAsksAgain(t *testing.T) {
	const lease = 3 * time.Second
	env, a := NewStandard(t, Options{LeaseTTL: lease})
	before := grafanaPeer(t, env, a)
	Must(t, env.Gateway.RemovePeer(context.Background(), before.PublicKey))
	lost := time.Now()
	reasons := a.Decision("grafana", false, lease/3+time.Second) // before the lease would end
	if !slices.ContainsFunc(reasons, func(r api.Reason) bool { return r.Code == api.CodeGatewayLostGrant }) {
		t.Fatalf("reasons after the gateway lost the peer = %+v, want %s", reasons, api.CodeGatewayLostGrant)
	}
	t.Logf("tunnel revoked %s after the gateway lost its peer (renewal every %s)", time.Since(lost), lease/3)
	freshGrafanaPeer(t, env, a, before)
}

// grafanaPeer opens a's tunnel to grafana and returns its peer, the only
// one on the gateway.
func grafanaPeer(t *testing.T, env *Env, a *Agent) api.GatewayPeer {
	t.Helper()
	if _, err := a.Get("grafana", "/"); err != nil {
		t.Fatal(err)
	}
	peers := env.Gateway.Peers(context.Background())
	if len(peers) != 1 {
		t.Fatalf("gateway peers = %+v, want 1", peers)
	}
	return peers[0]
}

// freshGrafanaPeer checks that a reaches grafana again, through a new
// tunnel: the gateway's only peer has a key other than old's.
func freshGrafanaPeer(t *testing.T, env *Env, a *Agent, old api.GatewayPeer) {
	t.Helper()
	if got, err := a.Get("grafana", "/"); err != nil || got != "hello from grafana" {
		t.Fatalf("Get(grafana) = %q, %v, want it served through a fresh tunnel", got, err)
	}
	if peers := env.Gateway.Peers(context.Background()); len(peers) != 1 || peers[0].PublicKey == old.PublicKey {
		t.Errorf("gateway peers = %+v, want one with a new key (old %s)", peers, old.PublicKey)
	}
}
