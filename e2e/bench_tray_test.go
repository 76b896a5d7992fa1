package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/internal/desktoptest"
)

// BenchmarkTray measures the real tray on a virtual X display against a
// real agent and controller (issue 10's figures), each beside a baseline
// from the same run:
//
//   - posture flip → the tray's window shows it (target ≤ 1 s), beside
//     flip → the agent's watch stream shows it (the tray's own source);
//   - idle for 5 s: the tray's CPU, wake-ups (context switches of all its
//     threads) and RSS, beside a bare fyne program with one window (the
//     toolkit alone, testdata/fynebare) in the same kind of desktop;
//   - the same tray WITH a tray host on the session bus (a fake panel):
//     on Linux it then runs without fyne's driver (gui/sni). Flip → its
//     menu (read over D-Bus as a panel does), and idle CPU, wake-ups and
//     RSS (sni-*).
func BenchmarkTray(b *testing.B) {
	a, d, _, tray := trayWorld(b)
	bare := filepath.Join(b.TempDir(), "fynebare")
	if out, err := exec.Command("go", "build", "-o", bare, "./testdata/fynebare").CombinedOutput(); err != nil {
		b.Fatalf("build the fyne baseline: %v\n%s", err, out)
	}
	stream := follow(b, a.socket)
	awaitApp(b, stream, "grafana", true, 15*time.Second)
	awaitWindow(b, d, tray, "all checks pass", 60*time.Second)

	var toStream, toTray []time.Duration
	for b.Loop() {
		for _, step := range []struct {
			report, title string
			allowed       bool
		}{
			{`{"disk_encryption": true, "firewall": false}`, "apps blocked by posture", false},
			{GoodPosture, "all checks pass", true},
		} {
			flip := setOverride(b, a.override, step.report)
			w, _ := awaitApp(b, stream, "grafana", step.allowed, 5*time.Second)
			toStream = append(toStream, w.at.Sub(flip))
			awaitWindow(b, d, tray, step.title, 5*time.Second)
			toTray = append(toTray, time.Since(flip))
		}
	}
	b.StopTimer()
	slices.Sort(toStream)
	slices.Sort(toTray)
	ms := func(ds []time.Duration, q float64) float64 {
		return float64(ds[min(len(ds)-1, int(q*float64(len(ds))))].Microseconds()) / 1000
	}
	b.ReportMetric(ms(toTray, 0.5), "tray-p50-ms")
	b.ReportMetric(ms(toTray, 1), "tray-max-ms")
	b.ReportMetric(ms(toStream, 0.5), "stream-p50-ms")
	b.ReportMetric(ms(toStream, 1), "stream-max-ms")
	b.ReportMetric(float64(len(toTray)), "trials")

	// Idle: nothing changes for 5 s, the tray and then the baseline.
	time.Sleep(time.Second)
	cpu, wake, rss := idle(b, tray.cmd.Process.Pid)
	base := startProc(b, d.Env, bare)
	awaitWindow(b, d, base, `"fyne baseline"`, 30*time.Second)
	time.Sleep(time.Second)
	bcpu, bwake, brss := idle(b, base.cmd.Process.Pid)
	b.ReportMetric(cpu, "tray-cpu-ms/s")
	b.ReportMetric(wake, "tray-wakeups/s")
	b.ReportMetric(rss, "tray-MB")
	b.ReportMetric(bcpu, "fyne-cpu-ms/s")
	b.ReportMetric(bwake, "fyne-wakeups/s")
	b.ReportMetric(brss, "fyne-MB")
	b.ReportMetric(wake/bwake, "tray/fyne-wakeups")

	// With a tray host: the windowed tray goes, a panel appears, the
	// tray starts again and draws its menu over D-Bus.
	Must(b, tray.cmd.Process.Signal(syscall.SIGTERM))
	tray.awaitExit(b, 10*time.Second)
	host := d.TrayHost(b)
	quiet := startTray(b, d, a)
	awaitMenu(b, host, quiet, "all checks pass", 60*time.Second)
	var toMenu []time.Duration
	for range 3 {
		for _, step := range []struct{ report, menu string }{
			{`{"disk_encryption": true, "firewall": false}`, "apps blocked by posture"},
			{GoodPosture, "all checks pass"},
		} {
			flip := setOverride(b, a.override, step.report)
			awaitMenu(b, host, quiet, step.menu, 5*time.Second)
			toMenu = append(toMenu, time.Since(flip))
		}
	}
	slices.Sort(toMenu)
	b.ReportMetric(ms(toMenu, 0.5), "sni-p50-ms")
	b.ReportMetric(ms(toMenu, 1), "sni-max-ms")
	time.Sleep(time.Second)
	scpu, swake, srss := idle(b, quiet.cmd.Process.Pid)
	b.ReportMetric(scpu, "sni-cpu-ms/s")
	b.ReportMetric(swake, "sni-wakeups/s")
	b.ReportMetric(srss, "sni-MB")
}

// idle measures pid over 5 s of nothing happening: CPU ms per second,
// context switches per second (all threads) and RSS in MB at the end.
func idle(b testing.TB, pid int) (cpuMS, wakeups, rssMB float64) {
	const span = 5 * time.Second
	cpu0, wake0 := desktoptest.CPUTicks(b, pid), desktoptest.Wakeups(b, pid)
	time.Sleep(span)
	cpu1, wake1 := desktoptest.CPUTicks(b, pid), desktoptest.Wakeups(b, pid)
	var kb float64
	fmt.Sscan(strings.TrimSuffix(desktoptest.RSS(b, pid), " kB"), &kb)
	return float64(cpu1-cpu0) * 10 / span.Seconds(), float64(wake1-wake0) / span.Seconds(), kb / 1024
}

// awaitWindow waits until the display's window list (xwininfo) holds want,
// polling every 10 ms; p's exit fails the wait.
func awaitWindow(t testing.TB, d *desktoptest.Desktop, p *proc, want string, within time.Duration) {
	t.Helper()
	end := time.Now().Add(within)
	for {
		windows := d.Windows()
		if strings.Contains(windows, want) {
			return
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited before its window showed %q:\n%s", p.name, want, p.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(end) {
			t.Fatalf("no window showing %q within %s: %s", want, within, trayTitle.FindAllString(windows, -1))
		}
	}
}
