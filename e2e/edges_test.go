package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
)

// TestGatewayRefusingPeerDeniesWithReason: a gateway that cannot take the
// peer at grant time means no tunnel, and the user is told why.
func TestGatewayRefusingPeerDeniesWithReason(t *testing.T) {
	env, a := NewStandard(t, Options{})
	env.Link.Cut()
	if got, err := a.Get("grafana", "/"); err == nil {
		t.Fatalf("Get(grafana) with the gateway refusing peers = %q, want an error", got)
	}
	reasons := a.Decision("grafana", false, 2*time.Second)
	if !hasCode(reasons, "gateway.unavailable") || !hasReason(reasons, "the gateway for this app did not accept the tunnel") {
		t.Errorf("reasons = %+v, want gateway.unavailable saying the gateway did not accept the tunnel", reasons)
	}
	if peers := env.Gateway.Peers(context.Background()); len(peers) != 0 {
		t.Errorf("gateway peers = %+v, want none", peers)
	}
	if grants := env.grants(t); len(grants) != 0 {
		t.Errorf("controller grants = %+v, want none after the gateway refused", grants)
	}

	env.Link.Restore()
	if got, err := a.Get("grafana", "/"); err != nil || got != "hello from grafana" {
		t.Fatalf("Get(grafana) once the gateway takes peers again = %q, %v, want %q", got, err, "hello from grafana")
	}
}

// TestFailedMoveRevokes: an app whose upstream changes while its gateway
// cannot take the change loses its live grants instead of keeping the old
// destination.
func TestFailedMoveRevokes(t *testing.T) {
	const lease = 2 * time.Second
	env, a := NewStandard(t, Options{LeaseTTL: lease})
	stream := a.OpenStream("grafana")

	ctx := context.Background()
	app, err := adminclient.Get[api.App](ctx, env.Admin, api.PathApps, "grafana")
	Must(t, err)
	app.Upstreams = []string{env.Upstream(t, "grafana-v2")}
	env.Link.Cut()
	Must(t, adminclient.Update(ctx, env.Admin, api.PathApps, "grafana", &app))

	stream.AwaitEnd(t, time.Second)
	if grants := env.grants(t); len(grants) != 0 {
		t.Errorf("controller grants after a failed move = %+v, want none", grants)
	}
	if !env.Logs.Contains("could not move grant to the app's new upstreams") {
		t.Error("the failed move was not logged")
	}
	if s := a.Status(); len(s.Tunnels) != 0 {
		t.Errorf("agent tunnels after the revocation = %+v, want none", s.Tunnels)
	}
	// The controller could not tell the gateway: the peer ends at its lease.
	Eventually(t, lease+time.Second, func() error {
		if peers := env.Gateway.Peers(ctx); len(peers) != 0 {
			return fmt.Errorf("gateway still holds %+v", peers)
		}
		return nil
	})
}

// TestRevokingOneUserLeavesAnotherUntouched: two users on two devices;
// taking one's access away does not disturb the other's open flow.
func TestRevokingOneUserLeavesAnotherUntouched(t *testing.T) {
	env := New(t, Options{})
	env.Standard(t)
	ctx := context.Background()
	Must(t, adminclient.Create(ctx, env.Admin, api.PathUsers, &api.User{Name: "bob", Groups: []string{"eng"}}))
	alice, bob := env.Agent(t, "alice"), env.Agent(t, "bob")
	alice.Decision("grafana", true, 5*time.Second)
	bob.Decision("grafana", true, 5*time.Second)
	aliceStream, bobStream := alice.OpenStream("grafana"), bob.OpenStream("grafana")
	bobKey := bob.Status().Tunnels[0].PublicKey

	Must(t, env.Admin.RemoveMember(ctx, "eng", "alice"))
	aliceStream.AwaitEnd(t, time.Second)
	time.Sleep(500 * time.Millisecond) // long enough for a wrong revocation to land
	if !bobStream.Open() {
		t.Fatal("bob's open flow ended when alice's access was revoked")
	}
	if got, err := bob.Get("grafana", "/"); err != nil || got != "hello from grafana" {
		t.Fatalf("bob Get(grafana) = %q, %v, want %q", got, err, "hello from grafana")
	}
	peers := env.Gateway.Peers(ctx)
	if len(peers) != 1 || peers[0].PublicKey != bobKey {
		t.Errorf("gateway peers = %+v, want only bob's (%s)", peers, bobKey)
	}
}

// TestUnreachableUpstreamIsReset: when the gateway cannot reach the app,
// the client's connection is reset at once instead of hanging.
func TestUnreachableUpstreamIsReset(t *testing.T) {
	env := New(t, Options{})
	env.Standard(t)
	ctx := context.Background()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Must(t, err)
	dead := l.Addr().String()
	l.Close() // nothing listens there any more
	Must(t, adminclient.Create(ctx, env.Admin, api.PathApps, &api.App{Name: "dead", Upstreams: []string{dead}}))
	Must(t, adminclient.Create(ctx, env.Admin, api.PathPolicies, &api.Policy{Name: "eng-dead", Groups: []string{"eng"}, Apps: []string{"dead"}}))
	a := env.Agent(t, "alice")
	a.Decision("dead", true, 5*time.Second)

	// Through the tunnel itself: the gateway completes the handshake, fails
	// to dial the upstream and resets.
	c, err := a.Get("dead", "/")
	if err == nil {
		t.Fatalf("Get(dead) = %q, want an error", c)
	}
	app, err := adminclient.Get[api.App](ctx, env.Admin, api.PathApps, "dead")
	Must(t, err)
	dst := netip.AddrPortFrom(netip.MustParseAddr(app.VirtualIP), netip.MustParseAddrPort(dead).Port())
	start := time.Now()
	conn, err := a.DialInTunnel(ctx, "dead", dst)
	if err == nil {
		// The reset may also come before the dial returns (next case).
		defer conn.Close()
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err = conn.Read(make([]byte, 1))
	}
	took := time.Since(start)
	var ne net.Error
	switch {
	case err == nil:
		t.Fatal("read from an unreachable upstream returned data")
	case errors.As(err, &ne) && ne.Timeout():
		t.Fatalf("read hung for %s, want a reset", took)
	case errors.Is(err, io.EOF):
		t.Fatalf("read = EOF, want a reset (an EOF looks like a clean, empty answer)")
	case !strings.Contains(err.Error(), "reset"):
		t.Fatalf("read = %v, want a connection reset", err)
	}
	if !env.Logs.Contains("upstream unreachable") {
		t.Error("the unreachable upstream was not logged by the gateway")
	}
}

// TestAppWithSeveralPorts: one app, two upstream ports: one tunnel, a
// local port for each, each reaching its own upstream.
func TestAppWithSeveralPorts(t *testing.T) {
	env := New(t, Options{})
	env.Standard(t)
	ctx := context.Background()
	web, admin := env.Upstream(t, "multi-web"), env.Upstream(t, "multi-admin")
	Must(t, adminclient.Create(ctx, env.Admin, api.PathApps, &api.App{Name: "multi", Upstreams: []string{web, admin}}))
	Must(t, adminclient.Create(ctx, env.Admin, api.PathPolicies, &api.Policy{Name: "eng-multi", Groups: []string{"eng"}, Apps: []string{"multi"}}))
	a := env.Agent(t, "alice")
	a.Decision("multi", true, 5*time.Second)

	for _, up := range []struct{ addr, want string }{{web, "hello from multi-web"}, {admin, "hello from multi-admin"}} {
		port := netip.MustParseAddrPort(up.addr).Port()
		var local string
		a.Eventually(5*time.Second, func() error {
			if local = a.LocalAddr("multi", port); local == "" {
				return fmt.Errorf("no local port for multi:%d yet", port)
			}
			return nil
		})
		got, err := httpGet(local)
		if err != nil || got != up.want {
			t.Errorf("GET via %s (multi:%d) = %q, %v, want %q", local, port, got, err, up.want)
		}
	}
	var multi []api.GatewayPeer
	for _, p := range env.Gateway.Peers(ctx) {
		if p.App == "multi" {
			multi = append(multi, p)
		}
	}
	if len(multi) != 1 {
		t.Errorf("gateway peers for multi = %+v, want one tunnel for both ports", multi)
	}
}

func hasCode(rs []api.Reason, code string) bool {
	for _, r := range rs {
		if r.Code == code {
			return true
		}
	}
	return false
}

// grants is the controller's live grants, through the admin API.
func (e *Env) grants(t testing.TB) []api.LiveGrant {
	t.Helper()
	gs, err := adminclient.List[api.LiveGrant](context.Background(), e.Admin, api.PathGrants)
	Must(t, err)
	return gs
}

// httpGet does one GET of / at addr and returns the body.
func httpGet(addr string) (string, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestHugeDeviceIDInAuthIsClippedInTheLog: an unauthenticated client's
// 60 KiB device ID does not grow the controller's log by 60 KiB.
func TestHugeDeviceIDInAuthIsClippedInTheLog(t *testing.T) {
	env := New(t, Options{})
	before := env.Logs.Len()
	c := dialRaw(t, env)
	huge := strings.Repeat("x", 60<<10)
	c.send(authWireFrame(t, huge, make([]byte, 64)))
	if got := c.readError(); got.Code != "unauthorized" || len(got.Message) > 1024 {
		t.Errorf("answer to a 60 KiB device ID = code %q, %d-byte message; want unauthorized, under 1 KiB", got.Code, len(got.Message))
	}
	c.closeStatus()
	if grew := env.Logs.Len() - before; grew > 2048 {
		t.Errorf("log grew by %d bytes for one refused auth with a 60 KiB device ID, want under 2 KiB", grew)
	}
	if !env.Logs.Contains("agent link refused") {
		t.Error("the refused session was not logged")
	}
}
