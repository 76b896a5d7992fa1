package agent

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent/controltest"
	"github.com/gatehouse-ztna/gatehouse/agent/keystore"
	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/posture/posturetest"
	"github.com/gatehouse-ztna/gatehouse/tunnel"
)

// testAgent runs an agent enrolled with a fake controller until the test
// ends; its leases are timed on a fake clock.
func testAgent(t *testing.T) (*Agent, *controltest.Controller) {
	a, fake, _ := testAgentWithClock(t)
	return a, fake
}

func testAgentWithClock(t *testing.T) (*Agent, *controltest.Controller, *fakeClock) {
	t.Helper()
	return testAgentWith(t, nil)
}

// testAgentWith is testAgentWithClock with a hook that may change the
// agent's config before it starts.
func testAgentWith(t *testing.T, change func(*Config)) (*Agent, *controltest.Controller, *fakeClock) {
	t.Helper()
	fake := controltest.New(t)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	fake.AddDevice("dev-1", pub)
	dir := t.TempDir()
	secrets := keystore.Files{Dir: dir}
	if err := secrets.Set(deviceKeyName, priv); err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "controller-ca.pem")
	if err := os.WriteFile(caFile, fake.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := saveState(dir, State{Controller: fake.URL, CAFile: caFile, DeviceID: "dev-1", User: "alice"}); err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	cfg := Config{StateDir: dir, Secrets: secrets, Posture: posturetest.New(api.PostureReport{}), Clock: clock}
	if change != nil {
		change(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	fake.AwaitConnected(t, 1)
	eventually(t, "agent connected", func() bool { return a.Status().Connected })
	return a, fake, clock
}

// grantFor answers the agent's grant request for app with a lease.
func grantFor(t *testing.T, fake *controltest.Controller, req api.GrantRequest, lease time.Duration) api.Grant {
	t.Helper()
	gw, err := tunnel.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	g := api.Grant{App: req.App, PublicKey: req.PublicKey, GatewayEndpoint: "127.0.0.1:9",
		GatewayPublicKey: gw.Public().String(), OverlayAddr: "100.64.0.2", VirtualIP: "100.80.0.1",
		Ports: []uint16{3000}, Lease: api.Duration(lease)}
	fake.Send(t, api.TypeGrant, g)
	return g
}

// connect asks for app's tunnel as `gatehouse connect` does and has the
// fake grant it; it returns the request the agent sent.
func connect(t *testing.T, a *Agent, fake *controltest.Controller, app string, lease time.Duration) api.GrantRequest {
	t.Helper()
	errc := make(chan error, 1)
	after := len(fake.Received())
	go func() { errc <- a.Connect(context.Background(), app) }()
	var req api.GrantRequest
	fake.Await(t, after, api.TypeGrantRequest, &req)
	grantFor(t, fake, req, lease)
	if err := <-errc; err != nil {
		t.Fatalf("Connect(%q) = %v, want nil", app, err)
	}
	return req
}

// eventually polls cond until it holds or fails the test after 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(controltest.Wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, controltest.Wait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settle waits until the agent has handled everything the fake sent so
// far: the agent handles messages in order, so the release that answers
// a renewal for a key it never held comes after all of them.
func settle(t *testing.T, fake *controltest.Controller) {
	t.Helper()
	after := len(fake.Received())
	probe := fmt.Sprintf("probe-%d", time.Now().UnixNano())
	fake.Send(t, api.TypeRenew, api.Renewal{App: probe, PublicKey: probe, Lease: api.Duration(time.Minute)})
	for {
		var rel api.Release
		after = fake.Await(t, after, api.TypeRelease, &rel) + 1
		if rel.App == probe {
			return
		}
	}
}

func TestPostureIsTheFirstMessage(t *testing.T) {
	_, fake := testAgent(t)
	var rep api.PostureReport
	if i := fake.Await(t, 0, api.TypePosture, &rep); i != 0 {
		t.Errorf("first posture report is message #%d, want #0 (before anything else): %v", i, fake.Received())
	}
	if rep.AgentVersion != Version {
		t.Errorf("posture AgentVersion = %q, want %q", rep.AgentVersion, Version)
	}
}

// TestWatcherEventSendsOnlyAChangedReport: the posture watcher's events
// make the agent re-collect at once, but a report goes out only when it
// differs from the last one sent, so a flood of events on a machine busy
// with processes sends nothing.
func TestWatcherEventSendsOnlyAChangedReport(t *testing.T) {
	src := posturetest.New(api.PostureReport{Firewall: api.KnownBool(true)})
	events := make(chan func(), 1)
	_, fake, _ := testAgentWith(t, func(c *Config) {
		c.Posture = src
		c.CollectInterval = time.Hour // only the watcher wakes the loop
		c.PostureWatch = func(ctx context.Context, changed func()) error {
			events <- changed
			<-ctx.Done()
			return nil
		}
	})
	changed := <-events
	fake.Await(t, 0, api.TypePosture, new(api.PostureReport))
	reports := func() int {
		n := 0
		for _, env := range fake.Received() {
			if env.Type == api.TypePosture {
				n++
			}
		}
		return n
	}
	before := reports()
	for range 50 {
		changed()
		time.Sleep(2 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if got := reports(); got != before {
		t.Errorf("posture reports after 50 events with nothing changed = %d, want %d (no new one)", got, before)
	}
	after := len(fake.Received())
	src.Set(func(r *api.PostureReport) { r.Firewall = api.KnownBool(false) })
	changed()
	var rep api.PostureReport
	fake.Await(t, after, api.TypePosture, &rep)
	if rep.Firewall != api.KnownBool(false) {
		t.Errorf("report after the firewall went off = %+v, want firewall known false", rep.Firewall)
	}
}

func TestConnectBringsTheTunnelUp(t *testing.T) {
	a, fake, clock := testAgentWithClock(t)
	req := connect(t, a, fake, "grafana", time.Minute)
	if _, err := tunnel.ParsePublicKey(req.PublicKey); err != nil {
		t.Errorf("grant request key %q: %v", req.PublicKey, err)
	}
	st := a.Status()
	if !st.Connected || len(st.Tunnels) != 1 {
		t.Fatalf("Status() = %+v, want connected with one tunnel", st)
	}
	got := st.Tunnels[0]
	if got.App != "grafana" || got.PublicKey != req.PublicKey || got.OverlayAddr != "100.64.0.2" {
		t.Errorf("Status().Tunnels[0] = %+v, want grafana under key %s at 100.64.0.2", got, req.PublicKey)
	}
	if left := got.ExpiresAt.Sub(clock.Now()); left != time.Minute {
		t.Errorf("tunnel expires in %v, want about the 1m lease", left)
	}
	// A second connect reuses the tunnel: no new grant request.
	if err := a.Connect(context.Background(), "grafana"); err != nil {
		t.Fatalf("Connect(%q) again = %v", "grafana", err)
	}
	n := 0
	for _, env := range fake.Received() {
		if env.Type == api.TypeGrantRequest {
			n++
		}
	}
	if n != 1 {
		t.Errorf("grant requests after two connects = %d, want 1", n)
	}
}

func TestDenyFailsConnectWithReasons(t *testing.T) {
	a, fake := testAgent(t)
	errc := make(chan error, 1)
	go func() { errc <- a.Connect(context.Background(), "payroll") }()
	var req api.GrantRequest
	fake.Await(t, 0, api.TypeGrantRequest, &req)
	reasons := []api.Reason{{Code: "posture.disk_encryption", Message: "disk not encrypted", Remediation: "Turn on disk encryption"}}
	fake.Send(t, api.TypeDeny, api.Denial{App: "payroll", PublicKey: req.PublicKey, Reasons: reasons})
	var denied *DeniedError
	if err := <-errc; !errors.As(err, &denied) || denied.Reasons[0].Code != reasons[0].Code {
		t.Fatalf("Connect(%q) = %v, want a *DeniedError with the reasons", "payroll", err)
	}
	apps := a.Apps()
	if len(apps) != 1 || apps[0].Name != "payroll" || apps[0].Allowed || len(apps[0].Reasons) != 1 {
		t.Errorf("Apps() = %+v, want payroll denied with its reason", apps)
	}
}

// TestEndOfAccessAbortsFlows: every way access ends tears the tunnel down,
// records why, and resets the flows the front-end registered.
func TestEndOfAccessAbortsFlows(t *testing.T) {
	tests := []struct {
		name     string
		end      func(t *testing.T, fake *controltest.Controller, req api.GrantRequest)
		wantCode string
	}{
		{name: "revoke", end: func(t *testing.T, fake *controltest.Controller, req api.GrantRequest) {
			fake.Send(t, api.TypeRevoke, api.Revocation{App: req.App, PublicKey: req.PublicKey,
				Reasons: []api.Reason{{Code: "posture.firewall", Message: "firewall off"}}})
		}, wantCode: "posture.firewall"},
		{name: "app removed", end: func(t *testing.T, fake *controltest.Controller, req api.GrantRequest) {
			fake.SendDecisions(t, api.DecisionsMsg{Apps: []api.AppInfo{{Name: "wiki", Ports: []uint16{80}}}}, api.MaxMessageBytes)
		}, wantCode: "app.removed"},
		{name: "controller no longer holds the grant", end: func(t *testing.T, fake *controltest.Controller, req api.GrantRequest) {
			fake.Drop() // the welcome of the reconnect lists no tunnel
		}, wantCode: "controller.lost_grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, fake := testAgent(t)
			req := connect(t, a, fake, "grafana", time.Minute)
			tun, err := (*access)(a).Tunnel(context.Background(), "grafana")
			if err != nil {
				t.Fatal(err)
			}
			client, server := tcpPair(t)
			if !tun.Track(server) {
				t.Fatal("Track() = false on a live tunnel")
			}
			tt.end(t, fake, req)
			eventually(t, "tunnel torn down", func() bool { return len(a.Status().Tunnels) == 0 })
			client.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := client.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("read on a flow after %s = %v, want a reset (ECONNRESET)", tt.name, err)
			}
			var code string
			for _, app := range a.Apps() {
				if app.Name == "grafana" && len(app.Reasons) > 0 {
					code = app.Reasons[0].Code
				}
			}
			if code != tt.wantCode {
				t.Errorf("grafana's recorded reason after %s = %q, want %q (Apps() = %+v)", tt.name, code, tt.wantCode, a.Apps())
			}
			if tun.Track(server) {
				t.Error("Track() = true after access ended, want false")
			}
		})
	}
}

// tcpPair is both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestRevokeOfAnOlderKeyKeepsTheTunnel(t *testing.T) {
	a, fake := testAgent(t)
	connect(t, a, fake, "grafana", time.Minute)
	old, _ := tunnel.NewPrivateKey()
	fake.Send(t, api.TypeRevoke, api.Revocation{App: "grafana", PublicKey: old.Public().String()})
	settle(t, fake)
	if n := len(a.Status().Tunnels); n != 1 {
		t.Errorf("tunnels after a revoke of another key = %d, want 1", n)
	}
}

func TestRenewal(t *testing.T) {
	other, _ := tunnel.NewPrivateKey()
	tests := []struct {
		name        string
		renewal     func(req api.GrantRequest) api.Renewal
		wantRelease bool
	}{
		{name: "held tunnel: lease moves", renewal: func(req api.GrantRequest) api.Renewal {
			return api.Renewal{App: req.App, PublicKey: req.PublicKey, Lease: api.Duration(time.Hour)}
		}},
		{name: "another key of the app: released", renewal: func(req api.GrantRequest) api.Renewal {
			return api.Renewal{App: req.App, PublicKey: other.Public().String(), Lease: api.Duration(time.Hour)}
		}, wantRelease: true},
		{name: "an app without a tunnel: released", renewal: func(req api.GrantRequest) api.Renewal {
			return api.Renewal{App: "wiki", PublicKey: other.Public().String(), Lease: api.Duration(time.Hour)}
		}, wantRelease: true},
		{name: "no lease: released", renewal: func(req api.GrantRequest) api.Renewal {
			return api.Renewal{App: req.App, PublicKey: req.PublicKey}
		}, wantRelease: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, fake, clock := testAgentWithClock(t)
			req := connect(t, a, fake, "grafana", time.Minute)
			clock.Advance(30 * time.Second)
			r := tt.renewal(req)
			after := len(fake.Received())
			fake.Send(t, api.TypeRenew, r)
			settle(t, fake)
			var released []api.Release
			for _, env := range fake.Received()[after:] {
				var rel api.Release
				if env.Type == api.TypeRelease && env.Decode(&rel) == nil && !strings.HasPrefix(rel.App, "probe-") {
					released = append(released, rel)
				}
			}
			want := []api.Release(nil)
			if tt.wantRelease {
				want = []api.Release{{App: r.App, PublicKey: r.PublicKey}}
			}
			if fmt.Sprint(released) != fmt.Sprint(want) {
				t.Errorf("renew %+v: released %+v, want %+v", r, released, want)
			}
			if !tt.wantRelease {
				if left := a.Status().Tunnels[0].ExpiresAt.Sub(clock.Now()); left != time.Hour {
					t.Errorf("tunnel expires in %v after a 1h renewal, want 1h", left)
				}
				// The renewal counts from its receipt: past the first
				// lease the tunnel is still up, and gone at the new end.
				clock.Advance(59 * time.Minute)
				if n := len(a.Status().Tunnels); n != 1 {
					t.Fatalf("tunnels 59m after a 1h renewal = %d, want 1", n)
				}
				clock.Advance(time.Minute)
				if n := len(a.Status().Tunnels); n != 0 {
					t.Errorf("tunnels at the end of the renewed lease = %d, want 0", n)
				}
			}
		})
	}
}

func TestGrantNobodyAskedForIsReleased(t *testing.T) {
	a, fake := testAgent(t)
	key, _ := tunnel.NewPrivateKey()
	g := grantFor(t, fake, api.GrantRequest{App: "grafana", PublicKey: key.Public().String()}, time.Minute)
	var rel api.Release
	fake.Await(t, 0, api.TypeRelease, &rel)
	if rel.App != g.App || rel.PublicKey != g.PublicKey {
		t.Errorf("release = %+v, want grafana under %s", rel, g.PublicKey)
	}
	if n := len(a.Status().Tunnels); n != 0 {
		t.Errorf("tunnels after an unasked grant = %d, want 0", n)
	}
}

// TestDecisionPagesAreAppliedWhole: a set in several pages changes nothing
// until its last page has arrived.
func TestDecisionPagesAreAppliedWhole(t *testing.T) {
	a, fake := testAgent(t)
	var m api.DecisionsMsg
	for i := range 60 {
		name := fmt.Sprintf("app-%02d-%s", i, strings.Repeat("x", 40))
		m.Apps = append(m.Apps, api.AppInfo{Name: name, Ports: []uint16{uint16(8000 + i)}})
		m.Decisions = append(m.Decisions, api.Decision{App: name, Allowed: true})
	}
	pages, tooBig := api.SplitDecisions(m, 2048)
	if len(pages) < 3 || len(tooBig) > 0 {
		t.Fatalf("SplitDecisions(60 apps, 2048) = %d pages (%v), want at least 3", len(pages), tooBig)
	}
	for _, p := range pages[:len(pages)-1] {
		fake.Send(t, api.TypeDecisions, p)
	}
	settle(t, fake)
	if got := a.Apps(); len(got) != 0 {
		t.Fatalf("Apps() before the last page = %d apps, want 0", len(got))
	}
	fake.Send(t, api.TypeDecisions, pages[len(pages)-1])
	settle(t, fake)
	got := a.Apps()
	if len(got) != len(m.Apps) {
		t.Fatalf("Apps() after %d pages = %d apps, want %d", len(pages), len(got), len(m.Apps))
	}
	for _, app := range got {
		if !app.Allowed || len(app.LocalAddrs) != 1 {
			t.Errorf("Apps() has %+v, want allowed with one local address", app)
		}
	}
}

// TestLostControllerKeepsTunnelsUntilTheLease: with the controller gone the
// agent keeps its tunnel and tears it down at the lease on its own clock.
func TestLostControllerKeepsTunnelsUntilTheLease(t *testing.T) {
	a, fake, clock := testAgentWithClock(t)
	connect(t, a, fake, "grafana", time.Minute)
	fake.Refuse(t, "controller down for maintenance")
	fake.Drop()
	eventually(t, "agent sees the controller gone", func() bool { return !a.Status().Connected })
	clock.Advance(time.Minute - time.Nanosecond)
	if n := len(a.Status().Tunnels); n != 1 {
		t.Fatalf("tunnels just before the lease ends, controller gone = %d, want 1 (kept until the lease)", n)
	}
	clock.Advance(time.Nanosecond)
	if n := len(a.Status().Tunnels); n != 0 {
		t.Fatalf("tunnels at the end of the lease = %d, want 0", n)
	}
	var code string
	for _, app := range a.Apps() {
		if app.Name == "grafana" && len(app.Reasons) > 0 {
			code = app.Reasons[0].Code
		}
	}
	if code != "lease.expired" {
		t.Errorf("grafana's recorded reason = %q, want %q", code, "lease.expired")
	}
	eventually(t, "the controller's refusal in Status().LastError", func() bool {
		return strings.Contains(a.Status().LastError, "controller down for maintenance")
	})
}
