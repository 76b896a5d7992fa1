package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/internal/testenv"
)

// watched is one update off the watch stream and when it arrived.
type watched struct {
	u   localapi.Update
	at  time.Time
	err error
}

// follow runs localapi.Client.Watch on socket until the test ends.
func follow(t testing.TB, socket string) <-chan watched {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch := make(chan watched, 256)
	go func() {
		defer close(ch)
		for u, err := range localapi.NewClient(socket).Watch(ctx) {
			ch <- watched{u: u, at: time.Now(), err: err}
		}
	}()
	return ch
}

// awaitApp reads updates until one shows app allowed (or not), and
// returns it with the events seen on the way.
func awaitApp(t testing.TB, ch <-chan watched, app string, allowed bool, within time.Duration) (watched, []localapi.Event) {
	t.Helper()
	var evs []localapi.Event
	deadline := time.After(within)
	for {
		select {
		case w, ok := <-ch:
			if !ok || w.err != nil {
				t.Fatalf("waiting for %s allowed=%v: the watch ended: %v", app, allowed, w.err)
			}
			evs = append(evs, w.u.Events...)
			if i := slices.IndexFunc(w.u.Apps, func(a localapi.App) bool { return a.Name == app }); i >= 0 && w.u.Apps[i].Allowed == allowed {
				return w, evs
			}
		case <-deadline:
			t.Fatalf("the watch did not show %s allowed=%v within %s", app, allowed, within)
		}
	}
}

// countEvents counts the events of kind for app.
func countEvents(evs []localapi.Event, kind, app string) int {
	n := 0
	for _, e := range evs {
		if e.Kind == kind && e.App == app {
			n++
		}
	}
	return n
}

// TestWatchStreamsPostureFlips: a real agent process on a real
// controller; a watcher on its local API sees grafana allowed, then each
// posture flip (the override file) shows grafana blocked with the failing
// check's reason and fix within 1 s and exactly one revoked event, and
// each flip back one restored event. `gatehouse status --watch` prints a
// line for each; when the agent stops, both watchers say so and end.
func TestWatchStreamsPostureFlips(t *testing.T) {
	env := New(t, Options{})
	env.Standard(t)
	a := newAgentProc(t)
	a.enrollByToken(env, "alice")
	a.run()
	ch := follow(t, a.socket)
	first, evs := awaitApp(t, ch, "grafana", true, 15*time.Second)
	if !first.u.Status.Connected || first.u.Status.User != "alice" {
		t.Errorf("status on the stream = %+v, want connected as alice", first.u.Status)
	}
	// Idle: once settled, three posture polls (1 s each) and nothing to
	// say, so no line (the keep-alive is 20 s away). Nor an event for
	// grafana appearing, or for the blink at connection (docs/decisions.md
	// "watch").
	evs = append(evs, quiet(t, ch, time.Second, 10*time.Second)...)
	if len(evs) != 0 {
		t.Errorf("events as the agent came up = %+v, want none", evs)
	}
	cli := startProc(t, nil, filepath.Join(a.bin, "gatehouse"), "--socket", a.socket, "status", "--watch")
	Eventually(t, 10*time.Second, func() error {
		if out := cli.stdout.String(); !strings.Contains(out, " grafana: allowed at 127.0.0.1:") {
			return fmt.Errorf("gatehouse status --watch printed %q, want grafana allowed with its address", out)
		}
		return nil
	})
	// Idle for 3 s: no line, and how often the watching CLI and the
	// agent (which polls posture every second) were woken.
	const idle = 3 * time.Second
	cliBefore, agentBefore := wakeups(t, cli.cmd.Process.Pid), wakeups(t, a.proc.cmd.Process.Pid)
	select {
	case w := <-ch:
		t.Errorf("the idle agent sent %+v on the watch, want nothing while nothing changes", w)
	case <-time.After(idle):
	}
	t.Logf("idle %s with two watchers: gatehouse status --watch woken %d times, the agent %d (context switches, all threads)",
		idle, wakeups(t, cli.cmd.Process.Pid)-cliBefore, wakeups(t, a.proc.cmd.Process.Pid)-agentBefore)

	const rounds = 10
	var down, up, revoked, restored []time.Duration
	for i := range rounds {
		flip := setOverride(t, a.override, `{"disk_encryption": true, "firewall": false}`)
		w, evs := awaitApp(t, ch, "grafana", false, 5*time.Second)
		down = append(down, w.at.Sub(flip))
		g := w.u.Apps[slices.IndexFunc(w.u.Apps, func(a localapi.App) bool { return a.Name == "grafana" })]
		if !slices.ContainsFunc(g.Reasons, func(r api.Reason) bool {
			return r.Code == api.CodePostureFirewall && r.Remediation != ""
		}) {
			t.Errorf("round %d: grafana blocked with reasons %+v, want the firewall check with its fix", i, g.Reasons)
		}
		if !slices.ContainsFunc(w.u.Posture.Checks, func(c api.CheckResult) bool {
			return c.Check == "firewall" && c.Status == api.CheckFail && c.Reason.Remediation != ""
		}) {
			t.Errorf("round %d: posture checks = %+v, want firewall failing with its fix", i, w.u.Posture.Checks)
		}
		w, more := awaitEvent(t, ch, 5*time.Second)
		revoked = append(revoked, w.at.Sub(flip))
		if evs = append(evs, more...); countEvents(evs, localapi.EventRevoked, "grafana") != 1 || len(evs) != 1 {
			t.Errorf("round %d: events after the flip = %+v, want exactly one revoked", i, evs)
		}

		flip = setOverride(t, a.override, GoodPosture)
		w, evs = awaitApp(t, ch, "grafana", true, 5*time.Second)
		up = append(up, w.at.Sub(flip))
		w, more = awaitEvent(t, ch, 5*time.Second)
		restored = append(restored, w.at.Sub(flip))
		if evs = append(evs, more...); countEvents(evs, localapi.EventRestored, "grafana") != 1 || len(evs) != 1 {
			t.Errorf("round %d: events after the flip back = %+v, want exactly one restored", i, evs)
		}
	}
	for _, m := range []struct {
		what string
		d    []time.Duration
	}{
		{"posture flip → stream shows grafana blocked", down},
		{"posture flip → revoked event", revoked},
		{"flip back → stream shows grafana allowed", up},
		{"flip back → restored event", restored},
	} {
		slices.Sort(m.d)
		t.Logf("%s, %d flips: min %s, median %s, max %s", m.what, rounds, m.d[0], m.d[rounds/2], m.d[rounds-1])
		if m.d[rounds-1] > time.Second {
			t.Errorf("%s: slowest %s, want ≤ 1 s", m.what, m.d[rounds-1])
		}
	}

	// The CLI printed one line per access change.
	Eventually(t, 5*time.Second, func() error {
		out := cli.stdout.String()
		if r, s := strings.Count(out, "access to grafana revoked: "), strings.Count(out, "access to grafana restored"); r != rounds || s != rounds {
			return fmt.Errorf("gatehouse status --watch printed %d revoked and %d restored lines, want %d each:\n%s", r, s, rounds, out)
		}
		return nil
	})
	if out := cli.stdout.String(); !strings.Contains(out, "the firewall is off") || !strings.Contains(out, "posture secure/firewall: fail") {
		t.Errorf("gatehouse status --watch = %q, want the failing check and its reason", out)
	}

	// The agent stops: the watchers hear it at once, not at a keep-alive.
	Must(t, a.proc.cmd.Process.Signal(syscall.SIGTERM))
	for w := range ch {
		if w.err != nil {
			if !strings.Contains(w.err.Error(), "the agent ended the watch") {
				t.Errorf("when the agent stopped the watch ended with %v, want: the agent ended the watch", w.err)
			}
			break
		}
	}
	select {
	case <-cli.done:
		if cli.cmd.ProcessState.Success() || !strings.Contains(cli.stderr.String(), "the agent ended the watch") {
			t.Errorf("gatehouse status --watch exited %v with %q, want a failure saying the agent ended the watch",
				cli.cmd.ProcessState, cli.stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Error("gatehouse status --watch still runs 10 s after the agent stopped")
	}
}

// quiet reads updates until none came for gap, failing after within,
// and returns the events it saw.
func quiet(t *testing.T, ch <-chan watched, gap, within time.Duration) []localapi.Event {
	t.Helper()
	var evs []localapi.Event
	deadline := time.After(within)
	for {
		select {
		case w := <-ch:
			if w.err != nil {
				t.Fatalf("the watch ended: %v", w.err)
			}
			evs = append(evs, w.u.Events...)
		case <-time.After(gap):
			return evs
		case <-deadline:
			t.Fatalf("the watch did not settle for %s within %s", gap, within)
		}
	}
}

// awaitEvent reads updates until one carries events.
func awaitEvent(t *testing.T, ch <-chan watched, within time.Duration) (watched, []localapi.Event) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case w, ok := <-ch:
			if !ok || w.err != nil {
				t.Fatalf("waiting for an event: the watch ended: %v", w.err)
			}
			if len(w.u.Events) > 0 {
				return w, w.u.Events
			}
		case <-deadline:
			t.Fatalf("no event on the watch within %s", within)
		}
	}
}

// wakeups is how many times pid's threads were switched in so far
// (voluntary and not), from /proc.
func wakeups(t *testing.T, pid int) int {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	Must(t, err)
	n := 0
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // a thread that ended
		}
		for l := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.HasSuffix(k, "ctxt_switches") {
				var c int
				fmt.Sscan(strings.TrimSpace(v), &c)
				n += c
			}
		}
	}
	return n
}

// setOverride replaces the posture override file atomically and returns
// when it did.
func setOverride(t testing.TB, file, report string) time.Time {
	t.Helper()
	tmp := file + ".tmp"
	Must(t, os.WriteFile(tmp, []byte(report), 0o600))
	at := time.Now()
	Must(t, os.Rename(tmp, file))
	return at
}

// TestWatchRefusesAnotherUser: the agent (root, serving root) on an
// open socket, as the service runs; `gatehouse status --watch` as nobody
// is refused with whom the agent serves, and gets no stream.
func TestWatchRefusesAnotherUser(t *testing.T) {
	if os.Getuid() != 0 {
		testenv.SkipOrFail(t, "calling as another uid needs root")
	}
	env := New(t, Options{})
	env.Standard(t)
	a := newAgentProc(t)
	// A socket dir apart from the state dir, reachable by every account
	// (the agent checks callers), as the service's /run/gatehouse-agent.
	Must(t, os.Chmod(filepath.Dir(a.socket), 0o755))
	a.socket = filepath.Join(filepath.Dir(a.socket), "run", "agent.sock")
	a.enrollByToken(env, "alice")
	a.run()
	awaitApp(t, follow(t, a.socket), "grafana", true, 15*time.Second) // root, the device's user, is served

	bin := t.TempDir()
	Must(t, os.Chmod(bin, 0o755))
	Must(t, os.Chmod(filepath.Dir(bin), 0o755))
	gh := filepath.Join(bin, "gatehouse")
	copyExecutable(t, filepath.Join(a.bin, "gatehouse"), gh)
	// Without the check the watch would stream on: the deadline ends it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", gh, "--socket", a.socket, "status", "--watch")
	cmd.Env = append(cleanEnv(), "HOME=/")
	out, err := cmd.CombinedOutput()
	if err == nil || ctx.Err() != nil || !strings.Contains(string(out), "this agent serves user root (uid 0)") ||
		!strings.Contains(string(out), "you are nobody (uid 65534)") {
		t.Errorf("gatehouse status --watch as nobody = %v, %q; want refused at once: this agent serves user root (uid 0); you are nobody (uid 65534)",
			err, out)
	}
	if strings.Contains(string(out), "grafana") {
		t.Errorf("nobody's watch showed the agent's state: %q", out)
	}
}
