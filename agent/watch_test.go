package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent/controltest"
	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/api"
)

// counterState is a state whose controller field is n: what a watch
// stream sends shows which state it was built from.
func counterState(n *atomic.Int64) func() localapi.Update {
	return func() localapi.Update {
		return localapi.Update{Type: localapi.UpdateSnapshot, Status: &localapi.Status{Controller: fmt.Sprint(n.Load())}}
	}
}

// TestWatchSlowWatcherDropsToLatest: a watcher stuck writing holds up
// neither the notifier nor the state; when it writes again it sends the
// latest state once, not the changes it missed one by one; a change that
// looks the same sends nothing.
func TestWatchSlowWatcherDropsToLatest(t *testing.T) {
	var c changes
	var n atomic.Int64
	sent := make(chan string, 100)
	release := make(chan struct{})
	var sends atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- watchStream(ctx, c.next, counterState(&n), watchTiming{keepAlive: time.Hour, settle: time.Hour}, func(u localapi.Update) error {
			if sends.Add(1) == 2 {
				<-release // the watcher's reader stops reading
			}
			sent <- u.Status.Controller
			return nil
		})
	}()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("watchStream() = %v, want context.Canceled", err)
		}
	}()
	if got := <-sent; got != "0" {
		t.Fatalf("first snapshot from state %s, want 0", got)
	}
	n.Store(1)
	c.notify()
	for sends.Load() < 2 { // the watcher is now stuck sending state 1
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	for i := 2; i <= 10000; i++ {
		n.Store(int64(i))
		c.notify()
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("10 000 notifies with a stuck watcher took %s, want them not to wait for it", took)
	}
	close(release)
	for _, want := range []string{"1", "10000"} {
		if got := <-sent; got != want {
			t.Fatalf("snapshot from state %s, want %s (the latest, missed changes dropped)", got, want)
		}
	}
	c.notify() // nothing the user sees changed: no line
	n.Store(10001)
	c.notify()
	if got := <-sent; got != "10001" {
		t.Errorf("after an unchanged notify, the next snapshot is from state %s, want 10001", got)
	}
	if got := sends.Load(); got != 4 {
		t.Errorf("watchStream sent %d lines, want 4 (0, 1, 10000, 10001)", got)
	}
}

// TestWatchKeepAliveWhileIdle: no change, no snapshot; a keep-alive line
// after the interval.
func TestWatchKeepAliveWhileIdle(t *testing.T) {
	var c changes
	var n atomic.Int64
	got := make(chan localapi.Update, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go watchStream(ctx, c.next, counterState(&n), watchTiming{keepAlive: 50 * time.Millisecond, settle: time.Hour}, func(u localapi.Update) error {
		got <- u
		return nil
	})
	first := <-got
	if first.Type != localapi.UpdateSnapshot || first.KeepAliveMS != 50 {
		t.Fatalf("first update = %+v, want a snapshot saying keepalive_ms 50", first)
	}
	select {
	case u := <-got:
		if u.Type != localapi.UpdateKeepAlive || u.Status != nil {
			t.Errorf("idle update = %+v, want a bare keep-alive", u)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no keep-alive within 5 s of a 50 ms interval")
	}
}

// TestWatchSettlesAccessEvents: snapshots go out at once; an access
// event comes when the settle time since the first change is over, once
// per change that held (a revoke after a bounce is one event), and none
// for a bounce that ended where it started.
func TestWatchSettlesAccessEvents(t *testing.T) {
	var c changes
	var apps atomic.Value // []localapi.App
	apps.Store([]localapi.App(nil))
	// built says the stream read the apps: what it decides next depends
	// on them alone, whatever the test stores after.
	built := make(chan struct{}, 100)
	state := func() localapi.Update {
		u := localapi.Update{Type: localapi.UpdateSnapshot, Apps: apps.Load().([]localapi.App)}
		built <- struct{}{}
		return u
	}
	fw := []api.Reason{{Code: api.CodePostureFirewall, Message: "the firewall is off"}}
	set := func(allowed bool) {
		a := localapi.App{Name: "grafana", Allowed: allowed}
		if !allowed {
			a.Reasons = fw
		}
		apps.Store([]localapi.App{a})
		c.notify()
		<-built
	}
	// Settle timers the test fires; unbuffered, so a fire returns once
	// the stream took it, and is handled before anything notified next.
	afters := make(chan chan time.Time, 10)
	timing := watchTiming{keepAlive: time.Hour, settle: time.Hour, after: func(time.Duration) <-chan time.Time {
		ch := make(chan time.Time)
		afters <- ch
		return ch
	}}
	sent := make(chan localapi.Update, 100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go watchStream(ctx, c.next, state, timing, func(u localapi.Update) error {
		sent <- u
		return nil
	})
	line := func(what string, allowed bool, events int) localapi.Update {
		t.Helper()
		select {
		case u := <-sent:
			if len(u.Apps) != 1 || u.Apps[0].Allowed != allowed || len(u.Events) != events {
				t.Fatalf("%s: line %+v, want grafana allowed=%v with %d events", what, u, allowed, events)
			}
			return u
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no line", what)
		}
		return localapi.Update{}
	}
	settle := func() {
		t.Helper()
		select {
		case ch := <-afters:
			ch <- time.Now()
			<-built
		case <-time.After(5 * time.Second):
			t.Fatal("no settle timer was started")
		}
	}
	<-built
	<-sent // the first snapshot: no apps
	set(true)
	line("grafana listed", true, 0)
	settle() // grafana appeared: settled, silently

	set(false)
	line("blocked", false, 0)
	set(true)
	line("bounced back", true, 0)
	set(false)
	line("blocked again", false, 0)
	settle()
	u := line("settled blocked", false, 1)
	if e := u.Events[0]; e.Kind != localapi.EventRevoked || e.App != "grafana" || fmt.Sprint(e.Reasons) != fmt.Sprint(fw) {
		t.Errorf("event = %+v, want grafana revoked with the firewall reason", e)
	}

	set(true)
	line("allowed", true, 0)
	set(false)
	line("blocked", false, 0)
	settle() // ended where it started: no event, and nothing new to show
	set(true)
	line("allowed after the silent settle", true, 0)
	settle()
	u = line("settled allowed", true, 1)
	if e := u.Events[0]; e.Kind != localapi.EventRestored || e.App != "grafana" {
		t.Errorf("event = %+v, want grafana restored", e)
	}
}

func TestAccessEvents(t *testing.T) {
	posture := []api.Reason{{Code: api.CodePostureFirewall, Message: "the firewall is off", Remediation: "Turn on the firewall"}}
	other := []api.Reason{{Code: api.CodePostureDiskEncryption, Message: "disk encryption is off"}}
	app := func(name string, allowed bool, rs []api.Reason) localapi.App {
		return localapi.App{Name: name, Allowed: allowed, Reasons: rs}
	}
	tests := []struct {
		name       string
		prev, next []localapi.App
		want       []localapi.Event
	}{
		{"revoked", []localapi.App{app("grafana", true, nil)}, []localapi.App{app("grafana", false, posture)},
			[]localapi.Event{{Kind: localapi.EventRevoked, App: "grafana", Reasons: posture}}},
		{"restored", []localapi.App{app("grafana", false, posture)}, []localapi.App{app("grafana", true, nil)},
			[]localapi.Event{{Kind: localapi.EventRestored, App: "grafana"}}},
		{"still blocked, another reason", []localapi.App{app("grafana", false, posture)}, []localapi.App{app("grafana", false, other)}, nil},
		{"still allowed", []localapi.App{app("grafana", true, nil)}, []localapi.App{app("grafana", true, nil)}, nil},
		{"new app", nil, []localapi.App{app("grafana", true, nil), app("db", false, posture)}, nil},
		{"app gone", []localapi.App{app("grafana", true, nil)}, nil, nil},
		{"two apps", []localapi.App{app("grafana", true, nil), app("db", false, other)},
			[]localapi.App{app("grafana", false, posture), app("db", true, nil)},
			[]localapi.Event{{Kind: localapi.EventRevoked, App: "grafana", Reasons: posture}, {Kind: localapi.EventRestored, App: "db"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := accessEvents(allowedByApp(tt.prev), tt.next)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("accessEvents() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// watchAgent is an agent on a fake controller serving its local API.
func watchAgent(t *testing.T) (*Agent, *controltest.Controller, *localapi.Client) {
	t.Helper()
	dir, err := os.MkdirTemp("", "ghw") // short: a unix socket path is at most ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "agent.sock")
	a, fake, _ := testAgentWith(t, func(c *Config) { c.Socket = sock })
	return a, fake, localapi.NewClient(sock)
}

// watchUpdates runs Watch in the background and hands over its updates
// (and its last error as an update-less item).
type watchItem struct {
	u   localapi.Update
	err error
}

func startWatch(t *testing.T, c *localapi.Client) (<-chan watchItem, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan watchItem, 64)
	go func() {
		defer close(ch)
		for u, err := range c.Watch(ctx) {
			ch <- watchItem{u, err}
		}
	}()
	t.Cleanup(cancel)
	return ch, cancel
}

func nextUpdate(t *testing.T, ch <-chan watchItem, what string) localapi.Update {
	t.Helper()
	select {
	case it, ok := <-ch:
		if !ok {
			t.Fatalf("%s: the watch ended", what)
		}
		if it.err != nil {
			t.Fatalf("%s: watch error %v", what, it.err)
		}
		return it.u
	case <-time.After(controltest.Wait):
		t.Fatalf("%s: no update within %s", what, controltest.Wait)
	}
	return localapi.Update{}
}

// untilUpdate skips updates until one satisfies ok, and returns every
// event seen on the way (that one's included).
func untilUpdate(t *testing.T, ch <-chan watchItem, what string, ok func(localapi.Update) bool) (localapi.Update, []localapi.Event) {
	t.Helper()
	var evs []localapi.Event
	for {
		u := nextUpdate(t, ch, what)
		evs = append(evs, u.Events...)
		if ok(u) {
			return u, evs
		}
	}
}

func appIs(name string, allowed bool) func(localapi.Update) bool {
	return func(u localapi.Update) bool {
		for _, a := range u.Apps {
			if a.Name == name {
				return a.Allowed == allowed
			}
		}
		return false
	}
}

// TestWatchFollowsTheAgent: over the real local API, the first snapshot
// says connected; a decisions set allowing grafana shows it allowed with
// its address; a denial (sent twice) brings one revoked event with the
// reason and the failing check; allowed again, one restored event. The ninth watcher of one
// caller is refused, and one that closes makes room.
func TestWatchFollowsTheAgent(t *testing.T) {
	_, fake, client := watchAgent(t)
	ch1, _ := startWatch(t, client)
	first := nextUpdate(t, ch1, "first snapshot")
	if first.Type != localapi.UpdateSnapshot || first.Status == nil || !first.Status.Connected || first.Posture == nil || first.Login == nil {
		t.Fatalf("first update = %+v, want a whole snapshot, connected", first)
	}
	grafana := api.AppInfo{Name: "grafana", Ports: []uint16{80}}
	allow := api.DecisionsMsg{Apps: []api.AppInfo{grafana}, Decisions: []api.Decision{{App: "grafana", Allowed: true}}}
	fake.SendDecisions(t, allow, api.MaxMessageBytes)
	u, _ := untilUpdate(t, ch1, "grafana allowed", appIs("grafana", true))
	if addrs := u.Apps[0].LocalAddrs; len(addrs) != 1 || !strings.HasPrefix(addrs[0], "127.0.0.1:") {
		t.Errorf("grafana's addresses = %v, want one 127.0.0.1:PORT", addrs)
	}

	// A watch started now takes grafana allowed as where it stands.
	ch, _ := startWatch(t, client)
	if u := nextUpdate(t, ch, "second watch's first snapshot"); !appIs("grafana", true)(u) || len(u.Events) != 0 {
		t.Fatalf("second watch's first snapshot = %+v, want grafana allowed, no events", u)
	}
	var evs []localapi.Event
	why := []api.Reason{{Code: api.CodePostureFirewall, Message: "the firewall is off", Remediation: "Turn on the firewall"}}
	deny := api.DecisionsMsg{Apps: []api.AppInfo{grafana}, Decisions: []api.Decision{{App: "grafana", Reasons: why}},
		Checks: []api.CheckResult{{Profile: "secure", Check: "firewall", Status: api.CheckFail, Reason: why[0]}}}
	fake.SendDecisions(t, deny, api.MaxMessageBytes)
	fake.SendDecisions(t, deny, api.MaxMessageBytes) // the same again: no change the user sees
	u, evs = untilUpdate(t, ch, "grafana revoked", func(u localapi.Update) bool { return len(u.Events) > 0 })
	want := localapi.Event{Kind: localapi.EventRevoked, App: "grafana", Reasons: why}
	if len(evs) != 1 || fmt.Sprint(evs[0]) != fmt.Sprint(want) {
		t.Fatalf("events since grafana was allowed = %+v, want one %+v", evs, want)
	}
	if got := evs[0].Text(); got != "access to grafana revoked: the firewall is off (Turn on the firewall)" {
		t.Errorf("revoked event text = %q", got)
	}
	if len(u.Posture.Checks) != 1 || u.Posture.Checks[0].Status != api.CheckFail {
		t.Errorf("posture checks = %+v, want the failing firewall check", u.Posture.Checks)
	}
	fake.SendDecisions(t, allow, api.MaxMessageBytes)
	_, evs = untilUpdate(t, ch, "grafana restored", func(u localapi.Update) bool { return len(u.Events) > 0 })
	if len(evs) != 1 || evs[0].Kind != localapi.EventRestored || evs[0].App != "grafana" {
		t.Errorf("events when grafana came back = %+v, want one restored", evs)
	}

	// The cap: this caller holds two watches; six more fit, the ninth not.
	cancels := []context.CancelFunc{}
	for i := range maxWatchersPerCaller - 2 {
		c, cancel := startWatch(t, client)
		nextUpdate(t, c, fmt.Sprintf("watcher %d", i+3))
		cancels = append(cancels, cancel)
	}
	over, _ := startWatch(t, client)
	select {
	case it := <-over:
		if it.err == nil || !strings.Contains(it.err.Error(), "429") || !strings.Contains(it.err.Error(), "already have 8 watch streams") {
			t.Errorf("the ninth watch = %+v, want refused: 429, already have 8 watch streams", it)
		}
	case <-time.After(controltest.Wait):
		t.Fatal("the ninth watch got no answer")
	}
	cancels[0]()
	eventually(t, "a closed watch makes room", func() bool {
		c, cancel := startWatch(t, client)
		defer cancel()
		it := <-c
		return it.err == nil
	})
}

// TestWatchStuckReaderIsDropped: a caller opens a watch and never reads.
// The agent takes two hundred decision sets (each line a few KiB, far
// more than the socket holds) without waiting for it, a reading watcher
// sees the last at once, and the stuck stream is closed at its write
// deadline, its place under the cap given back.
func TestWatchStuckReaderIsDropped(t *testing.T) {
	a, fake, client := watchAgent(t)
	a.mu.Lock()
	a.watchTiming.writeWait = 200 * time.Millisecond
	a.mu.Unlock()
	stuck, err := net.Dial("unix", a.cfg.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	if uc, ok := stuck.(*net.UnixConn); ok {
		uc.SetReadBuffer(4096)
	}
	fmt.Fprintf(stuck, "GET %s HTTP/1.1\r\nHost: agent\r\n\r\n", localapi.PathWatch)
	eventually(t, "the stuck watcher is counted", func() bool {
		a.watch.mu.Lock()
		defer a.watch.mu.Unlock()
		return a.watch.watchers[os.Getuid()] == 1
	})
	ch, _ := startWatch(t, client)
	nextUpdate(t, ch, "first snapshot")

	long := strings.Repeat("x", 4000)
	start := time.Now()
	const sets = 200
	for i := range sets {
		why := []api.Reason{{Code: api.CodePostureFirewall, Message: fmt.Sprintf("set %d %s", i, long)}}
		fake.SendDecisions(t, api.DecisionsMsg{Apps: []api.AppInfo{{Name: "grafana", Ports: []uint16{80}}},
			Decisions: []api.Decision{{App: "grafana", Reasons: why}}}, api.MaxMessageBytes)
	}
	last := fmt.Sprintf("set %d ", sets-1)
	untilUpdate(t, ch, "the last decision set", func(u localapi.Update) bool {
		return len(u.Apps) == 1 && len(u.Apps[0].Reasons) == 1 && strings.HasPrefix(u.Apps[0].Reasons[0].Message, last)
	})
	t.Logf("%d decision sets of ~4 KiB reached a reading watcher in %s beside a stuck one", sets, time.Since(start))
	eventually(t, "the stuck stream is dropped", func() bool {
		a.watch.mu.Lock()
		defer a.watch.mu.Unlock()
		return a.watch.watchers[os.Getuid()] == 1 // the reading one
	})
}
