package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/internal/desktoptest"
)

var (
	trayOnce sync.Once
	trayBin  string
	trayErr  error
)

// trayBinary builds the real gatehouse-tray (cgo: fyne) once per run.
func trayBinary(t testing.TB) string {
	t.Helper()
	trayOnce.Do(func() {
		trayBin = filepath.Join(binaries(t), "gatehouse-tray")
		if out, err := exec.Command("go", "build", "-o", trayBin, "../cmd/gatehouse-tray").CombinedOutput(); err != nil {
			trayErr = fmt.Errorf("%v\n%s", err, out)
		}
	})
	if trayErr != nil {
		t.Fatalf("build gatehouse-tray (Debian: libgl1-mesa-dev xorg-dev): %v", trayErr)
	}
	return trayBin
}

// trayWorld is a controller with the standard apps, alice's agent
// running, and the real tray following it on a desktop of its own with a
// notification daemon.
func trayWorld(t testing.TB) (*agentProc, *desktoptest.Desktop, *desktoptest.Notifier, *proc) {
	t.Helper()
	a, d, notes := trayDesktop(t)
	return a, d, notes, startTray(t, d, a)
}

// trayDesktop is trayWorld before the tray starts: a test that wants a
// tray host on the session bus starts one first.
func trayDesktop(t testing.TB) (*agentProc, *desktoptest.Desktop, *desktoptest.Notifier) {
	t.Helper()
	env := New(t, Options{})
	env.Standard(t)
	a := newAgentProc(t)
	a.enrollByToken(env, "alice")
	a.run()
	trayBinary(t)
	d := desktoptest.New(t, t.TempDir())
	return a, d, d.Notifications(t)
}

// startTray starts the real tray in d, following a.
func startTray(t testing.TB, d *desktoptest.Desktop, a *agentProc) *proc {
	t.Helper()
	return startProc(t, d.Env, trayBinary(t), "--socket", a.socket)
}

// trayTitle is the title of the tray's window (it carries the status
// line) on d's display, or "" while there is none.
var trayTitle = regexp.MustCompile(`"Gatehouse: [^"]*"`)

// TestTrayFollowsARealAgent runs the real gatehouse-tray on a virtual X
// display (no tray host there, so it opens its window) against a real
// agent and controller: the window shows the agent's state; a posture
// flip shows grafana blocked and a flip back shows it allowed, each with
// exactly one desktop notification (a notification daemon of the test's
// own on the session bus); the tray survives the agent stopping (it says
// the agent is not running) and follows the agent when it is back.
func TestTrayFollowsARealAgent(t *testing.T) {
	a, d, notes, tray := trayWorld(t)
	title := func() string { return trayTitle.FindString(d.Windows()) }
	await := func(what, want string, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		awaitWindow(t, d, tray, want, within)
		return time.Since(start)
	}
	t.Logf("window showing the agent's state %s after start: %s", await("window with all checks passing", "all checks pass", 60*time.Second).Round(time.Millisecond), title())
	if len(notes.Notes()) != 0 {
		t.Errorf("notifications as the tray came up: %+v, want none", notes.Notes())
	}

	// Posture flips: the window follows each within the 1 s
	// (measured from the override's rename to the title on the X server),
	// one notification each way.
	flipRoundTrips(t, a, notes, "tray window", func(want string) {
		await(want, want, 5*time.Second)
	}, "apps blocked by posture", "all checks pass")

	// The agent stops: the tray stays, says so, and follows the agent
	// when it is back.
	Must(t, a.proc.cmd.Process.Signal(syscall.SIGTERM))
	a.proc.awaitExit(t, 10*time.Second)
	await("agent not running", "agent is not running", 10*time.Second)
	a.run()
	took := await("the restarted agent's state", "all checks pass", 30*time.Second)
	t.Logf("tray back on the restarted agent %s after its socket appeared", took.Round(time.Millisecond))
	select {
	case <-tray.done:
		t.Fatalf("gatehouse-tray exited across the agent's restart:\n%s", tray.stderr.String())
	default:
	}
	if n := len(notes.Notes()); n != 6 {
		t.Errorf("notifications across the agent's restart: %d in all, want still 6: %+v", n, notes.Notes())
	}
	if img, err := d.Screen(); err != nil || desktoptest.Colours(img) < 20 {
		t.Errorf("the screen shows no drawn window (%v)", err)
	} else if out, err := filepath.Abs("../bin/tray-e2e.png"); err == nil {
		Must(t, desktoptest.SavePNG(out, img))
		t.Logf("screenshot: %s", out)
	}
}

// TestQuietTrayFollowsARealAgent: with a tray host on the session bus
// (a fake panel) the real gatehouse-tray registers a StatusNotifierItem
// and opens no window; its menu, read over D-Bus as the panel reads it,
// carries the real agent's state and follows each posture flip within
// 1 s, with exactly one notification per change; and while nothing
// changes the tray process sleeps.
func TestQuietTrayFollowsARealAgent(t *testing.T) {
	a, d, notes := trayDesktop(t)
	host := d.TrayHost(t)
	tray := startTray(t, d, a)
	awaitMenu(t, host, tray, "Connected as alice: all checks pass", 60*time.Second)
	if w := trayTitle.FindAllString(d.Windows(), -1); len(w) != 0 {
		t.Errorf("with a tray host the tray opened windows %q", w)
	}
	if !slices.ContainsFunc(host.MenuLabels(host.Item()), func(l string) bool { return strings.HasPrefix(l, "✓ grafana  127.0.0.1:") }) {
		t.Errorf("the menu %q does not offer grafana with its address", host.MenuLabels(host.Item()))
	}

	flipRoundTrips(t, a, notes, "tray menu", func(want string) {
		awaitMenu(t, host, tray, want, 5*time.Second)
	}, "apps blocked by posture", "Connected as alice: all checks pass")

	time.Sleep(time.Second)
	cpu, wake, rss := idle(t, tray.cmd.Process.Pid)
	t.Logf("idle 5 s in the system tray: %.1f ms CPU/s, %.1f context switches/s, RSS %.0f MB", cpu, wake, rss)
	if wake > 10 { // the stream's keep-alive every 20 s and the Go runtime (more under -race); fyne's driver is ~450/s
		t.Errorf("idle in the system tray: %.1f context switches/s, want none while nothing changes", wake)
	}
}

// awaitMenu waits until the tray's menu (read over D-Bus from host)
// has an item containing want, polling every 10 ms; p's exit fails the
// wait.
func awaitMenu(t testing.TB, host *desktoptest.TrayHost, p *proc, want string, within time.Duration) {
	t.Helper()
	end := time.Now().Add(within)
	for {
		var labels []string
		if item := host.Item(); item != "" {
			labels = host.MenuLabels(item)
			if slices.ContainsFunc(labels, func(l string) bool { return strings.Contains(l, want) }) {
				return
			}
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited before its menu showed %q:\n%s", p.name, want, p.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(end) {
			t.Fatalf("no tray menu showing %q within %s: %q", want, within, labels)
		}
	}
}

// flipRoundTrips flips alice's posture (the firewall off) and back three
// times: after each flip shown(want) must see the tray show blocked, then
// allowed, within 1 s of the flip, and exactly one notification must come
// each way, the first naming grafana revoked for the firewall.
func flipRoundTrips(t *testing.T, a *agentProc, notes *desktoptest.Notifier, where string, shown func(want string), blocked, allowed string) {
	t.Helper()
	var took []time.Duration
	for i := range 3 {
		flip := setOverride(t, a.override, `{"disk_encryption": true, "firewall": false}`)
		shown(blocked)
		took = append(took, time.Since(flip))
		flip = setOverride(t, a.override, GoodPosture)
		shown(allowed)
		took = append(took, time.Since(flip))
		Eventually(t, 5*time.Second, func() error {
			if n := len(notes.Notes()); n != 2*(i+1) {
				return fmt.Errorf("after %d round trips %d notifications, want %d: %+v", i+1, n, 2*(i+1), notes.Notes())
			}
			return nil
		})
	}
	for _, d := range took {
		if d > time.Second {
			t.Errorf("posture flip → %s took %s, want ≤ 1 s (all: %v)", where, d, took)
		}
	}
	t.Logf("posture flip → %s: %v", where, took)
	got := notes.Notes()
	if !strings.Contains(got[0].Summary, "grafana revoked") || !strings.Contains(got[0].Body, "firewall") || !strings.Contains(got[1].Summary, "grafana restored") {
		t.Errorf("first notifications %+v, want grafana revoked (the firewall) then restored", got[:2])
	}
}
