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
	for _, bad := range []string{"oversized message", "controller session ended", "agent disconnected", "too large for a message"} {
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
