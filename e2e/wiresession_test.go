package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
	"github.com/gatehouse-ztna/gatehouse/controller"
	"github.com/gatehouse-ztna/gatehouse/controller/httpapi"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// flakyStore fails ListPolicies while fail is set, so a policy reload
// fails as it would on a broken disk or a lost database.
type flakyStore struct {
	store.Store
	fail atomic.Bool
}

var errFlaky = errors.New("database unavailable (test)")

func (s *flakyStore) ListPolicies(ctx context.Context) ([]api.Policy, error) {
	if s.fail.Load() {
		return nil, errFlaky
	}
	return s.Store.ListPolicies(ctx)
}

// renewsAfter lists the renewals that arrived after t.
func renewsAfter(msgs []wireMsg, t time.Time) []api.Renewal {
	var out []api.Renewal
	for _, m := range msgs {
		var r api.Renewal
		if m.Env.Type == api.TypeRenew && m.At.After(t) && m.Env.Decode(&r) == nil {
			out = append(out, r)
		}
	}
	return out
}

func renewOf(key string) func([]wireMsg) (wireMsg, bool) {
	return ofType(api.TypeRenew, time.Time{}, func(r api.Renewal) bool { return r.PublicKey == key })
}

func peerKeys(env *Env) []string {
	var keys []string
	for _, p := range env.Gateway.Peers(context.Background()) {
		keys = append(keys, p.PublicKey)
	}
	return keys
}

// deviceOnline is whether the admin API says the device has a session.
func deviceOnline(t testing.TB, env *Env, id string) bool {
	t.Helper()
	devs, err := adminclient.List[api.Device](context.Background(), env.Admin, api.PathDevices)
	Must(t, err)
	for _, d := range devs {
		if d.ID == id {
			return d.Online
		}
	}
	t.Fatalf("device %s is not listed", id)
	return false
}

// TestFailedReloadStopsRenewals: an admin change is saved but the policy
// cannot be reloaded from the store. Decisions would come from an old
// snapshot, so no lease is renewed — the grant ends at its expiry — until
// a reload succeeds; then the saved change is in force and renewals go
// out again.
func TestFailedReloadStopsRenewals(t *testing.T) {
	const lease = 1500 * time.Millisecond
	var st store.Store
	flaky := &flakyStore{}
	env := New(t, Options{LeaseTTL: lease, Controller: keepStore(&st, func(s store.Store) store.Store {
		flaky.Store = s
		return flaky
	})})
	env.Standard(t)
	c := dialWire(t, env, enrollWireDevice(t, env, "alice"), wireOptions{})
	Must(t, c.Send(api.TypePosture, passingPostureReport()))
	g, reasons := c.Ask("grafana")
	if reasons != nil {
		t.Fatalf("Ask(grafana) denied: %+v", reasons)
	}
	c.Await(lease, "a renewal while the policy loads", renewOf(g.PublicKey))

	flaky.fail.Store(true)
	err := adminclient.Create(context.Background(), env.Admin, api.PathPolicies, &api.Policy{Name: "eng-wiki", Groups: []string{"eng"}, Apps: []string{"wiki"}})
	failedAt := time.Now()
	if status, msg := adminStatusOf(err); status != 500 || !strings.Contains(msg, "change saved, but reloading policy failed") {
		t.Fatalf("Create(policy) with the store failing = %v, want 500 saying the change was saved but not loaded", err)
	}
	c.Await(lease+time.Second, "the grant's end at its lease", ofType(api.TypeRevoke, failedAt, func(r api.Revocation) bool {
		return r.PublicKey == g.PublicKey && len(r.Reasons) > 0 && r.Reasons[0].Code == "lease.expired"
	}))
	// A renewal round that began before the failure may still finish.
	if late := renewsAfter(c.Messages(), failedAt.Add(100*time.Millisecond)); len(late) > 0 {
		t.Errorf("renewals after the failed reload = %+v, want none until a reload succeeds", late)
	}
	if slices.Contains(peerKeys(env), g.PublicKey) {
		t.Errorf("gateway still has the peer of a lease that was not renewed")
	}
	if !env.Logs.Contains("policy still not reloaded; renewing no grant") {
		t.Error("the failed reload was not logged")
	}
	if _, reasons := c.Ask("wiki"); !hasReason(reasons, "is not in any policy") {
		t.Errorf("Ask(wiki) while the reload fails = %+v, want denied (the saved policy is not loaded)", reasons)
	}

	flaky.fail.Store(false)
	var g2 api.Grant
	Eventually(t, 3*lease, func() error {
		// The renewal loop reloads: the saved policy comes into force.
		g, reasons := c.Ask("wiki")
		if reasons != nil {
			time.Sleep(100 * time.Millisecond)
			return fmt.Errorf("Ask(wiki) after the store recovered = %+v, want granted", reasons)
		}
		g2 = g
		return nil
	})
	c.Await(lease, "a renewal after the reload succeeded", renewOf(g2.PublicKey))
}

// awaitLog waits a second for the log to hold line.
func awaitLog(t testing.TB, env *Env, line string) {
	t.Helper()
	Eventually(t, time.Second, func() error {
		if !env.Logs.Contains(line) {
			return fmt.Errorf("Logs.Contains(%q) = false, want true", line)
		}
		return nil
	})
}

// adminStatusOf is the HTTP status and message of an admin API error.
func adminStatusOf(err error) (int, string) {
	var e *adminclient.Error
	if errors.As(err, &e) {
		return e.Status, e.Message
	}
	return 0, fmt.Sprint(err)
}

// TestSlowAgentIsDisconnected: an agent that stops reading its messages
// is disconnected (its writes block past the write timeout) rather than
// allowed to hold anything up; with no session its grant is not renewed
// and ends at its lease, on the gateway too. Alice's normal agent is
// served throughout.
func TestSlowAgentIsDisconnected(t *testing.T) {
	const lease = 1500 * time.Millisecond
	var st store.Store
	env, a := NewStandard(t, Options{LeaseTTL: lease, Controller: both(ramDataDir(t), keepStore(&st, nil)),
		Server: func(cfg *httpapi.Config) { cfg.WriteTimeout = time.Second }})
	// Big decision sets (about 100 KiB), so the socket buffers fill fast.
	apps := bulkApps(t, st, 600, env.Upstream(t, "bulk"))
	entitle(t, env, "slow", "eng", apps, "secure")

	// A client with a small receive buffer that reads nothing after the
	// welcome: it asks for grafana and never looks at the answer.
	slow := dialWire(t, env, enrollWireDevice(t, env, "alice"), wireOptions{NoRead: true, ReceiveBuffer: 4096})
	Must(t, slow.Send(api.TypePosture, passingPostureReport()))
	key, err := tunnelKey()
	Must(t, err)
	Must(t, slow.Send(api.TypeGrantRequest, api.GrantRequest{App: "grafana", PublicKey: key}))
	Eventually(t, 5*time.Second, func() error {
		if !slices.Contains(peerKeys(env), key) {
			return errors.New("no peer for the slow client's grant yet")
		}
		return nil
	})

	// Changes the controller must tell every agent about.
	start := time.Now()
	for i := 0; deviceOnline(t, env, slow.dev.ID); i++ {
		if time.Since(start) > 20*time.Second {
			t.Fatalf("the slow client is still connected %s after it stopped reading", time.Since(start).Round(time.Millisecond))
		}
		Must(t, adminclient.Update(context.Background(), env.Admin, api.PathApps, "app-00000", &api.App{Name: "app-00000",
			Upstreams: []string{fmt.Sprintf("127.0.0.1:%d", 1000+i%2)}}))
		time.Sleep(50 * time.Millisecond)
	}
	gone := time.Now()
	t.Logf("the slow client was disconnected %s after the controller had things to tell it", gone.Sub(start).Round(time.Millisecond))
	awaitLog(t, env, `write to agent failed; closing its link" component=controller device=`+slow.dev.ID+` timeout=1s`)
	Eventually(t, lease+time.Second, func() error {
		if slices.Contains(peerKeys(env), key) {
			return errors.New("the slow client's peer is still on the gateway")
		}
		return nil
	})
	t.Logf("its grant ended %s after the disconnect", time.Since(gone).Round(time.Millisecond))
	if got, err := a.Get("grafana", "/"); err != nil || got != "hello from grafana" {
		t.Errorf("alice.Get(grafana) = %q, %v, want %q", got, err, "hello from grafana")
	}
}

// TestPingTimeoutClosesSession: a client that answers no ping is closed
// with the reason; one that reads (and so answers pings) stays.
func TestPingTimeoutClosesSession(t *testing.T) {
	env := New(t, Options{Server: func(cfg *httpapi.Config) {
		cfg.PingInterval, cfg.PingTimeout = 200*time.Millisecond, 300*time.Millisecond
	}})
	env.Standard(t)
	quiet := dialWire(t, env, enrollWireDevice(t, env, "alice"), wireOptions{NoRead: true})
	awake := dialWire(t, env, enrollWireDevice(t, env, "alice"), wireOptions{})
	start := time.Now()
	Eventually(t, 3*time.Second, func() error {
		if deviceOnline(t, env, quiet.dev.ID) {
			return errors.New("the client that answers no ping is still online")
		}
		return nil
	})
	t.Logf("the silent client was dropped %s after connecting (ping every 200 ms, 300 ms to answer)", time.Since(start).Round(time.Millisecond))
	awaitLog(t, env, `device=`+quiet.dev.ID+` reason="agent stopped answering pings"`)
	code, reason := closeOf(quiet.drainUntilClosed(10 * time.Second))
	if code != websocket.StatusPolicyViolation || reason != "agent stopped answering pings" {
		t.Errorf("close of the silent client = %v %q, want %v %q", code, reason, websocket.StatusPolicyViolation, "agent stopped answering pings")
	}
	if err := awake.Ended(); err != nil || !deviceOnline(t, env, awake.dev.ID) {
		t.Errorf("the client that reads: ended %v, online %v; want connected", err, deviceOnline(t, env, awake.dev.ID))
	}
}

// TestNewerSessionReplacesOlder: a second session of the same device
// takes over: the first is closed with the reason, and the device's grant
// stays — listed in the new session's welcome, still on the gateway, and
// renewed through the new session.
func TestNewerSessionReplacesOlder(t *testing.T) {
	const lease = 1500 * time.Millisecond
	env := New(t, Options{LeaseTTL: lease})
	env.Standard(t)
	d := enrollWireDevice(t, env, "alice")
	older := dialWire(t, env, d, wireOptions{})
	Must(t, older.Send(api.TypePosture, passingPostureReport()))
	g, reasons := older.Ask("grafana")
	if reasons != nil {
		t.Fatalf("Ask(grafana) denied: %+v", reasons)
	}

	newer := dialWire(t, env, d, wireOptions{})
	if !slices.Contains(newer.Welcome.Tunnels, g.PublicKey) {
		t.Errorf("newer session's welcome lists tunnels %q, want the device's grant %s", newer.Welcome.Tunnels, g.PublicKey)
	}
	Eventually(t, 2*time.Second, func() error {
		if older.Ended() == nil {
			return errors.New("the older session is still open")
		}
		return nil
	})
	const want = "replaced by a newer link of the same device"
	if code, reason := closeOf(older.Ended()); code != websocket.StatusPolicyViolation || reason != want {
		t.Errorf("close of the older session = %v %q, want %v %q", code, reason, websocket.StatusPolicyViolation, want)
	}
	newer.Await(lease, "a renewal of the device's grant through the newer session", renewOf(g.PublicKey))
	if !slices.Contains(peerKeys(env), g.PublicKey) {
		t.Error("the device's grant left the gateway when its session was replaced")
	}
	if !deviceOnline(t, env, d.ID) {
		t.Error("the device is offline after its newer session took over")
	}
}

// TestOverlayPoolExhaustion: with a pool of three overlay addresses, a
// fourth tunnel is denied with a reason saying so, and gets the address a
// released tunnel gave back.
func TestOverlayPoolExhaustion(t *testing.T) {
	env := New(t, Options{Controller: func(cfg *controller.Config) {
		cfg.OverlayPrefix = netip.MustParsePrefix("100.64.0.0/30") // .1, .2, .3
	}})
	env.Standard(t)
	var clients []*wireClient
	var grants []api.Grant
	for range 4 {
		c := dialWire(t, env, enrollWireDevice(t, env, "alice"), wireOptions{})
		Must(t, c.Send(api.TypePosture, passingPostureReport()))
		clients = append(clients, c)
	}
	for i, c := range clients[:3] {
		g, reasons := c.Ask("grafana")
		if reasons != nil {
			t.Fatalf("Ask(grafana) #%d = denied %+v, want a grant", i, reasons)
		}
		grants = append(grants, g)
	}
	if got := []string{grants[0].OverlayAddr, grants[1].OverlayAddr, grants[2].OverlayAddr}; !slices.Equal(got, []string{"100.64.0.1", "100.64.0.2", "100.64.0.3"}) {
		t.Errorf("overlay addresses = %q, want the pool's three in order", got)
	}
	_, reasons := clients[3].Ask("grafana")
	if len(reasons) != 1 || reasons[0].Code != "controller.exhausted" || !strings.Contains(reasons[0].Message, "no overlay addresses left") {
		t.Fatalf("Ask(grafana) with the pool used up = %+v, want the controller.exhausted reason", reasons)
	}
	if n := len(env.Gateway.Peers(context.Background())); n != 3 {
		t.Errorf("gateway peers after the refusal = %d, want 3", n)
	}

	Must(t, clients[1].Send(api.TypeRelease, api.Release{App: "grafana", PublicKey: grants[1].PublicKey}))
	Eventually(t, 2*time.Second, func() error {
		if slices.Contains(peerKeys(env), grants[1].PublicKey) {
			return errors.New("released tunnel still on the gateway")
		}
		return nil
	})
	g, reasons := clients[3].Ask("grafana")
	if reasons != nil || g.OverlayAddr != "100.64.0.2" {
		t.Errorf("Ask(grafana) after a release = %+v, %+v; want a grant at the freed 100.64.0.2", g, reasons)
	}
}
