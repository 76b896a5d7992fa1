package e2e

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent"
	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
)

func TestAllowedAppThroughTunnel(t *testing.T) {
	env, a := NewStandard(t, Options{})

	got, err := a.Get("grafana", "/")
	if err != nil || got != "hello from grafana" {
		t.Fatalf("Get(grafana) = %q, %v, want %q", got, err, "hello from grafana")
	}
	peers := env.Gateway.Peers(context.Background())
	if len(peers) != 1 || peers[0].App != "grafana" {
		t.Fatalf("gateway peers = %+v, want one for grafana", peers)
	}
	if !strings.HasPrefix(peers[0].OverlayAddr, "100.") {
		t.Errorf("peer overlay %q, want an address from 100.64.0.0/12", peers[0].OverlayAddr)
	}
}

func TestPostureFlipCutsOpenFlowAndRestores(t *testing.T) {
	env, a := NewStandard(t, Options{})
	stream := a.OpenStream("grafana")

	a.SetPosture(`{"disk_encryption": false, "firewall": true}`)
	took := stream.AwaitEnd(t, 2*time.Second)
	t.Logf("open flow cut %s after the posture flip", took)
	Eventually(t, 2*time.Second-took, func() error {
		if got, err := a.Get("grafana", "/"); err == nil {
			return errors.New("new connection still served: " + got)
		}
		return nil
	})
	reasons := a.Decision("grafana", false, time.Second)
	if !hasReason(reasons, "disk encryption is off") {
		t.Errorf("reasons = %+v, want one saying disk encryption is off", reasons)
	}
	if peers := env.Gateway.Peers(context.Background()); len(peers) != 0 {
		t.Errorf("gateway peers after revoke = %+v, want none", peers)
	}

	a.SetPosture(GoodPosture)
	a.Decision("grafana", true, 2*time.Second)
	if got, err := a.Get("grafana", "/"); err != nil || got != "hello from grafana" {
		t.Fatalf("Get(grafana) after restoring posture = %q, %v, want %q", got, err, "hello from grafana")
	}
}

// TestAppOutsidePolicyDenied: an app in no policy of the user is not in
// their app list and has no local port; asking for it by name is denied
// with the reason, which `gatehouse apps` then shows for that name, and no
// peer is installed.
func TestAppOutsidePolicyDenied(t *testing.T) {
	env, a := NewStandard(t, Options{})
	for _, app := range a.Apps() {
		if app.Name == "wiki" {
			t.Fatalf("Apps() lists wiki, an app in no policy for alice: %+v", app)
		}
	}
	err := a.Connect(context.Background(), "wiki")
	var denied *agent.DeniedError
	if !errors.As(err, &denied) || !hasReason(denied.Reasons, `app "wiki" is not in any policy for your groups (eng)`) {
		t.Fatalf("Connect(wiki) = %v, want a denial with the no-policy reason", err)
	}
	reasons := a.Decision("wiki", false, time.Second)
	if !hasReason(reasons, `app "wiki" is not in any policy for your groups (eng)`) {
		t.Errorf("reasons = %+v, want the no-policy reason", reasons)
	}
	for _, app := range a.Apps() {
		if app.Name == "wiki" && len(app.LocalAddrs) != 0 {
			t.Errorf("Apps() gives wiki local addresses %q, want none", app.LocalAddrs)
		}
	}
	for _, p := range env.Gateway.Peers(context.Background()) {
		if p.App == "wiki" {
			t.Fatalf("gateway has a peer for denied app wiki: %+v", p)
		}
	}
	if !env.Logs.Contains("grant denied") {
		t.Error("the denial was not logged")
	}
	// Later decision sets (here after a posture change) keep the answer.
	a.SetPosture(`{"disk_encryption": true, "firewall": false}`)
	a.Decision("grafana", false, 2*time.Second)
	if reasons := a.Decision("wiki", false, time.Second); !hasReason(reasons, `app "wiki" is not in any policy`) {
		t.Errorf("reasons after new decisions = %+v, want the no-policy reason still", reasons)
	}
}

func TestTwoAppsTwoTunnelsDifferentKeys(t *testing.T) {
	env := New(t, Options{})
	env.Standard(t)
	Must(t, adminclient.Create(context.Background(), env.Admin, api.PathPolicies,
		&api.Policy{Name: "eng-wiki", Groups: []string{"eng"}, Apps: []string{"wiki"}}))
	a := env.Agent(t, "alice")
	a.Decision("wiki", true, 5*time.Second)
	a.Decision("grafana", true, 5*time.Second)
	for _, app := range []string{"grafana", "wiki"} {
		if got, err := a.Get(app, "/"); err != nil || got != "hello from "+app {
			t.Fatalf("Get(%s) = %q, %v, want %q", app, got, err, "hello from "+app)
		}
	}
	peers := env.Gateway.Peers(context.Background())
	if len(peers) != 2 {
		t.Fatalf("gateway peers = %+v, want 2", peers)
	}
	if peers[0].PublicKey == peers[1].PublicKey || peers[0].App == peers[1].App {
		t.Errorf("peers = %+v, want two apps with different public keys", peers)
	}
	if peers[0].OverlayAddr == peers[1].OverlayAddr {
		t.Errorf("peers share overlay address %s", peers[0].OverlayAddr)
	}
}

func TestTunnelReachesOnlyItsAppAndPorts(t *testing.T) {
	env := New(t, Options{})
	env.Standard(t)
	ctx := context.Background()
	a := env.Agent(t, "alice")
	a.Decision("grafana", true, 5*time.Second)
	if _, err := a.Get("grafana", "/"); err != nil {
		t.Fatal(err)
	}
	grafana, err := adminclient.Get[api.App](ctx, env.Admin, api.PathApps, "grafana")
	Must(t, err)
	wiki, err := adminclient.Get[api.App](ctx, env.Admin, api.PathApps, "wiki")
	Must(t, err)
	port := func(app api.App) uint16 {
		return netip.MustParseAddrPort(app.Upstreams[0]).Port()
	}
	allowed := netip.AddrPortFrom(netip.MustParseAddr(grafana.VirtualIP), port(grafana))
	c, err := a.DialInTunnel(ctx, "grafana", allowed)
	if err != nil {
		t.Fatalf("DialInTunnel(grafana, %s) = %v, want a connection (control case)", allowed, err)
	}
	c.Close()

	for _, dst := range []netip.AddrPort{
		netip.AddrPortFrom(netip.MustParseAddr(wiki.VirtualIP), port(wiki)),         // app B's address
		netip.AddrPortFrom(netip.MustParseAddr(grafana.VirtualIP), port(grafana)+1), // another port of A
	} {
		dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		c, err := a.DialInTunnel(dctx, "grafana", dst)
		cancel()
		if err == nil {
			c.Close()
			t.Errorf("DialInTunnel(grafana, %s) connected, want refused", dst)
		} else if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("DialInTunnel(grafana, %s) = %v, want connection refused", dst, err)
		}
	}
	if !env.Logs.Contains("flow refused: destination not in grant") {
		t.Error("refused flows were not logged by the gateway")
	}
}

func TestAdminChangeRevokesWithinOneSecond(t *testing.T) {
	env, a := NewStandard(t, Options{})
	stream := a.OpenStream("grafana")

	start := time.Now()
	Must(t, env.Admin.RemoveMember(context.Background(), "eng", "alice"))
	stream.AwaitEnd(t, time.Second-time.Since(start))
	t.Logf("open flow cut %s after the admin change", time.Since(start))
	reasons := a.Decision("grafana", false, time.Second)
	if !hasReason(reasons, "not in any policy") {
		t.Errorf("reasons = %+v, want the no-policy reason", reasons)
	}
}

func TestUnrenewedLeaseExpiresAtGateway(t *testing.T) {
	const lease = 1500 * time.Millisecond
	env, a := NewStandard(t, Options{LeaseTTL: lease})
	stream := a.OpenStream("grafana")
	// Renewals keep the flow alive well past one lease.
	time.Sleep(2 * lease)
	if !stream.Open() {
		t.Fatal("flow ended while leases were being renewed")
	}

	env.Link.Cut()
	cut := time.Now()
	stream.AwaitEnd(t, lease+time.Second)
	t.Logf("flow ended %s after the link was cut (lease %s)", time.Since(cut), lease)
	// The controller could not reach the gateway, so an empty peer list
	// means the gateway dropped the peer on its own.
	Eventually(t, time.Second, func() error {
		if peers := env.Gateway.Peers(context.Background()); len(peers) != 0 {
			return errors.New("gateway still holds peers after lease expiry")
		}
		return nil
	})
	if _, err := a.Get("grafana", "/"); err == nil {
		t.Fatal("new connection served while the gateway link is cut")
	}
}

func hasReason(rs []api.Reason, substr string) bool {
	for _, r := range rs {
		if strings.Contains(r.Message, substr) {
			return true
		}
	}
	return false
}

// TestRestartedAgentReleasesLostGrants: an agent that restarts has lost
// its tunnels' keys; the controller must not keep renewing their peers.
func TestRestartedAgentReleasesLostGrants(t *testing.T) {
	const lease = 3 * time.Second
	env, a := NewStandard(t, Options{LeaseTTL: lease})
	before := grafanaPeer(t, env, a)

	a.Restart()
	// The first renewal after the restart (every lease/3) is answered with
	// a release; well before the lease itself would run out.
	Eventually(t, lease/3+time.Second, func() error {
		if peers := env.Gateway.Peers(context.Background()); len(peers) != 0 {
			return errors.New("the lost tunnel's peer is still installed")
		}
		return nil
	})
	freshGrafanaPeer(t, env, a, before)
}

// TestPostureHeartbeatAndUnknownFacts: the agent reports on the
// controller's heartbeat even when nothing changed, and a fact the agent
// cannot tell (null in the override) fails its check as unknown.
func TestPostureHeartbeatAndUnknownFacts(t *testing.T) {
	const heartbeat = 400 * time.Millisecond
	env, a := NewStandard(t, Options{HeartbeatInterval: heartbeat})

	collectedAt := func() time.Time {
		devs, err := adminclient.List[api.Device](context.Background(), env.Admin, api.PathDevices)
		Must(t, err)
		if len(devs) != 1 || devs[0].Posture == nil {
			t.Fatalf("devices = %+v, want one with a posture report", devs)
		}
		return devs[0].Posture.CollectedAt
	}
	first := collectedAt()
	Eventually(t, 3*heartbeat, func() error {
		if !collectedAt().After(first) {
			return errors.New("no new posture report on the heartbeat")
		}
		return nil
	})

	a.SetPosture(`{"disk_encryption": true, "firewall": null}`)
	reasons := a.Decision("grafana", false, 2*time.Second)
	if !hasReason(reasons, "the state of the firewall is unknown") {
		t.Errorf("reasons = %+v, want the firewall unknown", reasons)
	}
	var status string
	for _, c := range a.Posture().Checks {
		if c.Check == "firewall" {
			status = c.Status
		}
	}
	if status != api.CheckUnknown {
		t.Errorf("firewall check status = %q, want %q", status, api.CheckUnknown)
	}
}

// TestFirstConnectionRightAfterStart: a connection made the moment the
// agent's ports open is decided on the device's posture, never on "no
// report yet" (the first report precedes every grant request).
func TestFirstConnectionRightAfterStart(t *testing.T) {
	env := New(t, Options{})
	env.Standard(t)
	Must(t, adminclient.Create(context.Background(), env.Admin, api.PathPostureProfiles,
		&api.PostureProfile{Name: "self", RequiredProcesses: []string{filepath.Base(os.Args[0])}}))
	Must(t, adminclient.Update(context.Background(), env.Admin, api.PathPolicies, "eng-grafana",
		&api.Policy{Name: "eng-grafana", Groups: []string{"eng"}, Apps: []string{"grafana"}, PostureProfiles: []string{"secure", "self"}}))
	for i := range 5 {
		a := env.Agent(t, "alice")
		if got, err := a.Get("grafana", "/"); err != nil || got != "hello from grafana" {
			t.Fatalf("agent %d: first Get(grafana) = %q, %v, want %q", i, got, err, "hello from grafana")
		}
		a.Stop()
	}
}

// TestLostControllerFailsClosed: with the controller gone, nobody renews;
// the gateway and the agent each end the grant at its lease.
func TestLostControllerFailsClosed(t *testing.T) {
	const lease = 1500 * time.Millisecond
	env, a := NewStandard(t, Options{LeaseTTL: lease})
	stream := a.OpenStream("grafana")

	Must(t, env.StopController())
	stream.AwaitEnd(t, lease+time.Second)
	Eventually(t, time.Second, func() error {
		if peers := env.Gateway.Peers(context.Background()); len(peers) != 0 {
			return errors.New("gateway still holds peers with its controller gone")
		}
		return nil
	})
	if _, err := a.Get("grafana", "/"); err == nil {
		t.Fatal("new connection served with the controller gone")
	}
	if a.Status().Connected {
		t.Error("agent says it is connected to a closed controller")
	}
}

// TestAppUpstreamChangeMovesLiveGrant: an admin pointing an app at a new
// upstream moves live grants in place (same tunnel key) to it.
func TestAppUpstreamChangeMovesLiveGrant(t *testing.T) {
	env, a := NewStandard(t, Options{})
	if got, err := a.Get("grafana", "/"); err != nil || got != "hello from grafana" {
		t.Fatalf("Get(grafana) = %q, %v", got, err)
	}
	before := env.Gateway.Peers(context.Background())

	ctx := context.Background()
	app, err := adminclient.Get[api.App](ctx, env.Admin, api.PathApps, "grafana")
	Must(t, err)
	v2 := env.Upstream(t, "grafana-v2")
	_, oldPort, _ := net.SplitHostPort(app.Upstreams[0])
	_, newPort, _ := net.SplitHostPort(v2)
	app.Upstreams = []string{v2}
	Must(t, adminclient.Update(ctx, env.Admin, api.PathApps, "grafana", &app))

	Eventually(t, 2*time.Second, func() error {
		for _, v := range a.Apps() {
			if v.Name == "grafana" && len(v.LocalAddrs) == 1 && a.LocalAddr("grafana", mustPort(t, newPort)) != "" {
				return nil
			}
		}
		return errors.New("agent has no local port for grafana's new upstream port yet")
	})
	if a.LocalAddr("grafana", mustPort(t, oldPort)) != "" && oldPort != newPort {
		t.Errorf("agent still listens for grafana's old port %s", oldPort)
	}
	got, err := a.Get("grafana", "/")
	if err != nil || got != "hello from grafana-v2" {
		t.Fatalf("Get(grafana) after the change = %q, %v, want %q", got, err, "hello from grafana-v2")
	}
	after := env.Gateway.Peers(context.Background())
	if len(after) != 1 || after[0].PublicKey != before[0].PublicKey {
		t.Errorf("peers = %+v, want the same tunnel (key %s) moved in place", after, before[0].PublicKey)
	}
}

func mustPort(t *testing.T, s string) uint16 {
	t.Helper()
	p, err := strconv.ParseUint(s, 10, 16)
	Must(t, err)
	return uint16(p)
}
