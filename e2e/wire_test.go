package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent"
	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
	"github.com/gatehouse-ztna/gatehouse/controller"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
	"github.com/gatehouse-ztna/gatehouse/tunnel"
)

// keepStore is an Options.Controller hook that hands the controller's
// store to the test (to fill it fast, or to make it fail).
func keepStore(into *store.Store, wrap func(store.Store) store.Store) func(*controller.Config) {
	return func(cfg *controller.Config) {
		cfg.WrapStore = func(s store.Store) store.Store {
			if wrap != nil {
				s = wrap(s)
			}
			*into = s
			return s
		}
	}
}

// ramDataDir is an Options.Controller hook that puts the controller's
// data dir on tmpfs when there is one: SQLite syncs every commit to disk,
// and thousands of single-row commits would time the disk, not Gatehouse.
func ramDataDir(t testing.TB) func(*controller.Config) {
	return func(cfg *controller.Config) {
		dir, err := os.MkdirTemp("/dev/shm", "gatehouse-e2e-")
		if err != nil {
			return // no tmpfs: keep the disk
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		cfg.DataDir = dir
	}
}

// both runs every hook in turn.
func both(hooks ...func(*controller.Config)) func(*controller.Config) {
	return func(cfg *controller.Config) {
		for _, h := range hooks {
			h(cfg)
		}
	}
}

// bulkApps stores n apps named app-00000… straight into st (the admin
// API validates and reloads the policy on every write, which is what
// makes it slow for thousands), all served by upstream, and returns their
// names. The controller sees them at its next reload.
func bulkApps(t testing.TB, st store.Store, n int, upstream string) []string {
	t.Helper()
	ctx := context.Background()
	vip := netip.MustParseAddr("100.80.32.0")
	names := make([]string, 0, n)
	for i := range n {
		vip = vip.Next()
		name := fmt.Sprintf("app-%05d", i)
		Must(t, st.CreateApp(ctx, api.App{Name: name, Upstreams: []string{upstream}, Protocol: "tcp", Gateway: "embedded", VirtualIP: vip.String()}))
		names = append(names, name)
	}
	return names
}

// entitle gives group the apps through policies of at most 1,000 apps
// each, so the controller reloads (and sees apps stored by bulkApps).
func entitle(t testing.TB, env *Env, prefix, group string, apps []string, profiles ...string) {
	t.Helper()
	for i := 0; i < len(apps); i += 1000 {
		Must(t, adminclient.Create(context.Background(), env.Admin, api.PathPolicies, &api.Policy{Name: fmt.Sprintf("%s-%d", prefix, i),
			Groups: []string{group}, Apps: apps[i:min(i+1000, len(apps))], PostureProfiles: profiles}))
	}
}

// TestCatalogueOf5000Apps: with 5,000 apps of which alice is entitled to
// 3,000 (and grafana), her agent stays connected, lists exactly those,
// reaches one end to end, never sees the others, and asking for one of
// them is denied with the reason. Every frame fits in api.MaxMessageBytes
// (a raw session reads with that limit).
func TestCatalogueOf5000Apps(t *testing.T) {
	var st store.Store
	env := New(t, Options{Controller: both(ramDataDir(t), keepStore(&st, nil))})
	env.Standard(t)
	up := env.Upstream(t, "bulk")

	start := time.Now()
	all := bulkApps(t, st, 5000, up)
	t.Logf("stored 5,000 apps in %s", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	for i := range 5 {
		Must(t, adminclient.Create(context.Background(), env.Admin, api.PathApps, &api.App{Name: fmt.Sprintf("admin-app-%d", i), Upstreams: []string{up}}))
	}
	t.Logf("the admin API creates an app in %s on a 5,000-app catalogue", (time.Since(start) / 5).Round(time.Millisecond))
	entitled := all[:3000]
	start = time.Now()
	entitle(t, env, "bulk", "eng", entitled[:2000], "secure")
	entitle(t, env, "bulk-open", "eng", entitled[2000:])
	t.Logf("3 policies naming 3,000 apps in %s", time.Since(start).Round(time.Millisecond))
	want := append(slices.Clone(entitled), "grafana")
	sort.Strings(want)

	// On the wire: the whole set, in pages that each fit.
	raw := dialWire(t, env, enrollWireDevice(t, env, "alice"), wireOptions{})
	Must(t, raw.Send(api.TypePosture, passingPostureReport()))
	var set api.DecisionsMsg
	pages := 0
	Eventually(t, 10*time.Second, func() error {
		sets, err := raw.DecisionSets()
		if err != nil {
			return err
		}
		if err := raw.Ended(); err != nil {
			return fmt.Errorf("the raw session ended: %w", err)
		}
		if len(sets) == 0 {
			return errors.New("no whole decision set yet")
		}
		set, pages = sets[len(sets)-1], sets[len(sets)-1].Pages
		return nil
	})
	if got := appNames(set.Apps); !slices.Equal(got, want) || len(set.Decisions) != len(want) {
		t.Fatalf("decision set on the wire = %d apps (%d decisions), want alice's %d entitled apps", len(got), len(set.Decisions), len(want))
	}
	if pages < 2 {
		t.Errorf("decision set of %d apps came in %d page(s), want several", len(want), pages)
	}
	t.Logf("decision set of %d apps: %d pages of at most %d bytes", len(want), pages, api.MaxMessageBytes)

	fds := openFDs(t)
	start = time.Now()
	a := env.Agent(t, "alice")
	a.Eventually(30*time.Second, func() error {
		var listed []string
		open := 0
		for _, app := range a.Apps() {
			listed = append(listed, app.Name)
			if len(app.LocalAddrs) > 0 {
				open++
			}
		}
		if !slices.Equal(listed, want) || open != len(want) {
			return fmt.Errorf("Apps() lists %d apps, %d with a local port; want exactly alice's %d entitled apps, each with one", len(listed), open, len(want))
		}
		return nil
	})
	t.Logf("agent listed %d apps with %d local ports %s after start (%d more open files)",
		len(want), len(want), time.Since(start).Round(time.Millisecond), openFDs(t)-fds)

	if got, err := a.Get("app-02999", "/"); err != nil || got != "hello from bulk" {
		t.Fatalf("Get(app-02999) = %q, %v, want %q", got, err, "hello from bulk")
	}
	err := a.Connect(context.Background(), "app-04000")
	var denied *agent.DeniedError
	if !errors.As(err, &denied) || !hasReason(denied.Reasons, `app "app-04000" is not in any policy for your groups (eng)`) {
		t.Fatalf("Connect(app-04000) = %v, want a denial with the no-policy reason", err)
	}
	if r := a.Decision("app-04000", false, time.Second); !hasReason(r, "is not in any policy") {
		t.Errorf("Apps() reasons for app-04000 after asking = %+v, want the no-policy reason", r)
	}
	for _, app := range a.Apps() {
		if strings.HasPrefix(app.Name, "app-0") && app.Name >= "app-03000" && app.Name != "app-04000" {
			t.Errorf("Apps() lists %s, which alice is not entitled to and did not ask for", app.Name)
		}
	}
	if s := a.Status(); !s.Connected || s.LastError != "" {
		t.Errorf("Status() = connected %v, last error %q; want connected with no error", s.Connected, s.LastError)
	}
	for _, bad := range []string{"oversized message", "control connection ended", "controller link ended", "agent disconnected", "too large for a message"} {
		if env.Logs.Contains(bad) {
			t.Errorf("log has %q: a session broke", bad)
		}
	}
}

func appNames(apps []api.AppInfo) []string {
	out := make([]string, 0, len(apps))
	for _, a := range apps {
		out = append(out, a.Name)
	}
	return out
}

// openFDs is how many files this process has open.
func openFDs(t testing.TB) int {
	es, err := os.ReadDir("/proc/self/fd")
	Must(t, err)
	return len(es)
}

// TestPostureFloodIsCoalesced: one session sends posture reports as fast
// as it can (10,000 and more) while alice's normal agent keeps working: it
// reaches grafana, a posture flip on it still cuts its open flow within a
// second, and the restored posture gets it a new grant. The flooding
// session stays connected, is told it is rate-limited, its reports are
// re-decided at most every PostureDecideInterval, and its last report is
// the one that counts.
func TestPostureFloodIsCoalesced(t *testing.T) {
	var st store.Store
	env, a := NewStandard(t, Options{Controller: both(ramDataDir(t), keepStore(&st, nil))})
	// Decisions worth coalescing: alice is entitled to 300 more apps.
	entitle(t, env, "flood", "eng", bulkApps(t, st, 300, env.Upstream(t, "bulk")), "secure")
	a.Decision("app-00299", true, 5*time.Second)

	// A small send buffer keeps the backlog of reports the controller has
	// not read yet — and the pongs queued behind it — short, even under
	// the race detector, where the controller reads ~1,300 reports a second.
	flooder := dialWire(t, env, enrollWireDevice(t, env, "alice"), wireOptions{SendBuffer: 64 << 10})
	Must(t, flooder.Send(api.TypePosture, passingPostureReport()))
	if _, reasons := flooder.Ask("grafana"); reasons != nil {
		t.Fatalf("flooder's grant request for grafana denied: %+v", reasons)
	}

	setsBefore, start := env.Ctrl.DecisionSets(), time.Now()
	var sent int
	stop, flooded := make(chan struct{}), make(chan error, 1)
	go func() {
		rep := passingPostureReport()
		for ; ; sent++ {
			select {
			case <-stop:
				if sent >= 10000 {
					rep.Hostname, rep.DiskEncryption = api.KnownString("flood-last"), api.KnownBool(false)
					flooded <- flooder.Send(api.TypePosture, rep)
					return
				}
			default:
			}
			rep.Hostname, rep.DiskEncryption = api.KnownString(fmt.Sprintf("flood-%d", sent)), api.KnownBool(sent%2 == 0)
			if err := flooder.Send(api.TypePosture, rep); err != nil {
				flooded <- err
				return
			}
		}
	}()

	// Alice's agent is served throughout.
	for i := range 10 {
		if got, err := a.Get("grafana", "/"); err != nil || got != "hello from grafana" {
			t.Fatalf("Get(grafana) #%d during the flood = %q, %v, want %q", i, got, err, "hello from grafana")
		}
	}
	stream := a.OpenStream("grafana")
	a.SetPosture(`{"disk_encryption": false, "firewall": true}`)
	took := stream.AwaitEnd(t, time.Second)
	a.Decision("grafana", false, time.Second)
	t.Logf("during the flood, alice's open flow was cut %s after her posture flip", took.Round(time.Millisecond))
	a.SetPosture(GoodPosture)
	a.Eventually(2*time.Second, func() error {
		_, err := a.Get("grafana", "/")
		return err
	})
	close(stop)
	Must(t, <-flooded)
	elapsed := time.Since(start)
	sets := env.Ctrl.DecisionSets() - setsBefore
	t.Logf("flood: %d posture reports in %s (%.0f/s); the controller computed %d decision sets meanwhile",
		sent+1, elapsed.Round(time.Millisecond), float64(sent+1)/elapsed.Seconds(), sets)

	// At most one re-decision per interval for the flooder, plus a few for
	// alice's agent.
	if limit := uint64(elapsed/controller.DefaultPostureDecideInterval) + 20; sets > limit {
		t.Errorf("decision sets during a %s flood = %d, want at most %d (coalesced every %s)", elapsed.Round(time.Millisecond), sets, limit, controller.DefaultPostureDecideInterval)
	}
	// The last report counts: grafana is denied for its reason. (Reports
	// still in the socket buffers are read first: under the race detector
	// the controller reads a few thousand a second.)
	Eventually(t, 30*time.Second, func() error {
		got, err := adminclient.List[api.Device](context.Background(), env.Admin, api.PathDevices)
		if err != nil {
			return err
		}
		for _, d := range got {
			if d.ID == flooder.dev.ID && (d.Posture == nil || d.Posture.Hostname.Value != "flood-last" || !d.Online) {
				return fmt.Errorf("flooder's device = online %v, posture %+v; want online with the last report", d.Online, d.Posture)
			}
		}
		return nil
	})
	t.Logf("the controller had read the last report %s after it was sent", time.Since(start.Add(elapsed)).Round(time.Millisecond))
	if _, reasons := flooder.Ask("grafana"); !hasReason(reasons, "disk encryption is off") {
		t.Errorf("flooder's grant request after the flood = denied %+v, want denied for the last report's disk encryption", reasons)
	}
	flooder.Await(time.Second, "a decision set denying grafana for the last report", func([]wireMsg) (wireMsg, bool) {
		sets, err := flooder.DecisionSets()
		if err != nil || len(sets) == 0 {
			return wireMsg{}, false
		}
		for _, d := range sets[len(sets)-1].Decisions {
			if d.App == "grafana" && !d.Allowed && hasReason(d.Reasons, "disk encryption is off") {
				return wireMsg{}, true
			}
		}
		return wireMsg{}, false
	})
	// Told, not cut off.
	notices := 0
	for _, m := range flooder.Messages() {
		var e api.ErrorMsg
		if m.Env.Type == api.TypeError && m.Env.Decode(&e) == nil && e.Code == api.CodeRateLimited {
			notices++
		}
	}
	if maxNotices := int(time.Since(start)/time.Second) + 2; notices == 0 || notices > maxNotices {
		t.Errorf("rate_limited errors to the flooder = %d, want 1 to %d (one a second at most)", notices, maxNotices)
	}
	if err := flooder.Ended(); err != nil {
		t.Errorf("flooding session ended: %v, want it connected", err)
	}
}

// TestGrantRequestFloodIsRateLimited: a session asking for grants faster
// than its limit gets the excess denied with code rate_limited and an
// error saying so, stays connected, and is served again once it slows
// down; alice's normal agent is served throughout.
func TestGrantRequestFloodIsRateLimited(t *testing.T) {
	const rate, burst = 5, 10
	env, a := NewStandard(t, Options{Controller: func(cfg *controller.Config) {
		cfg.GrantRequestRate, cfg.GrantRequestBurst = rate, burst
	}})
	flooder := dialWire(t, env, enrollWireDevice(t, env, "alice"), wireOptions{})
	Must(t, flooder.Send(api.TypePosture, passingPostureReport()))

	const asks = 200
	start := time.Now()
	keys := map[string]bool{}
	for range asks {
		key, err := tunnelKey()
		Must(t, err)
		keys[key] = true
		Must(t, flooder.Send(api.TypeGrantRequest, api.GrantRequest{App: "grafana", PublicKey: key}))
	}
	elapsed := time.Since(start)
	if got, err := a.Get("grafana", "/"); err != nil || got != "hello from grafana" {
		t.Errorf("alice.Get(grafana) during the flood = %q, %v, want %q", got, err, "hello from grafana")
	}
	// Every request gets an answer (the queue had room for all of them).
	var grants, limited, notices int
	flooder.Await(10*time.Second, "an answer to each grant request", func(msgs []wireMsg) (wireMsg, bool) {
		grants, limited, notices = 0, 0, 0
		for _, m := range msgs {
			switch m.Env.Type {
			case api.TypeGrant:
				grants++
			case api.TypeDeny:
				var d api.Denial
				if m.Env.Decode(&d) == nil && keys[d.PublicKey] && len(d.Reasons) == 1 && d.Reasons[0].Code == api.CodeRateLimited {
					limited++
				}
			case api.TypeError:
				var e api.ErrorMsg
				if m.Env.Decode(&e) == nil && e.Code == api.CodeRateLimited && strings.Contains(e.Message, "slow down") {
					notices++
				}
			}
		}
		return wireMsg{}, grants+limited == asks
	})
	t.Logf("%d grant requests in %s: %d answered, %d denied as rate_limited, %d rate_limited errors", asks, elapsed.Round(time.Millisecond), grants, limited, notices)
	if most := burst + int(rate*elapsed.Seconds()) + 1; grants > most {
		t.Errorf("grants for a burst of %d requests = %d, want at most %d (burst %d, %d/s)", asks, grants, most, burst, rate)
	}
	if notices == 0 || notices > int(time.Since(start)/time.Second)+2 {
		t.Errorf("rate_limited errors = %d, want at least one and at most one a second", notices)
	}
	time.Sleep(time.Second / rate) // a token comes back
	if _, reasons := flooder.Ask("grafana"); reasons != nil {
		t.Errorf("a grant request after slowing down = denied %+v, want a grant", reasons)
	}
	if err := flooder.Ended(); err != nil {
		t.Errorf("flooding session ended: %v, want it connected", err)
	}
}

// tunnelKey is a fresh WireGuard public key.
func tunnelKey() (string, error) {
	k, err := tunnel.NewPrivateKey()
	return k.Public().String(), err
}
