package main

import (
	"encoding/json"
	"fmt"
	"image"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/internal/desktoptest"

	"github.com/gatehouse-ztna/gatehouse/internal/testenv"
)

// TestTraySmokeUnderXvfb starts the real gatehouse-tray on a virtual X
// display with a session bus of its own (no tray host there, so it must
// open its window and say why), against an agent answering on a real unix
// socket; waits for the window, takes a screenshot (bin/tray-smoke.png,
// not committed), measures it idle, checks a second tray refuses to start,
// that --install-autostart names this binary, and that SIGTERM ends it
// cleanly.
func TestTraySmokeUnderXvfb(t *testing.T) {
	d := newDesktop(t)
	tray, logs, exited := d.startTray(t)
	bin, socket, home, env := d.bin, d.socket, d.Home, d.Env

	// The window's title carries the status line: the agent's State
	// reached the window when it names alice's blocked app.
	start := time.Now()
	waitFor(t, 60*time.Second, exited, "the tray's window showing the agent's state", func() bool {
		return d.HasWindow("Gatehouse: alice: 1 of 2 apps blocked by posture (see Posture…)")
	})
	t.Logf("window up with the agent's state %v after start", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(logs.String(), "no system tray") {
		t.Errorf("the tray did not say why it opened a window; its output:\n%s", logs.String())
	}

	// Let it draw, then keep the screen.
	time.Sleep(500 * time.Millisecond) // the title is set before the frame is drawn: a deadline, not a proof
	var shot image.Image
	waitFor(t, 20*time.Second, exited, "a drawn window on the screen", func() bool {
		img, err := d.Screen()
		if err != nil {
			t.Logf("reading the screen: %v", err)
			return false
		}
		shot = img
		return desktoptest.Colours(img) > 20 // text drawn, not a blank rectangle
	})
	if out, err := filepath.Abs(filepath.Join("..", "..", "bin", "tray-smoke.png")); err == nil {
		if err := desktoptest.SavePNG(out, shot); err != nil {
			t.Errorf("saving the screenshot: %v", err)
		} else {
			t.Logf("screenshot: %s", out)
		}
	}

	// Idle: nothing changes for 5 s. fyne's GLFW loop wakes 60 times a
	// second on its own (its event ticker), so wake-ups are measured and
	// reported, not required to be zero.
	pid := tray.Process.Pid
	cpu0, wake0 := desktoptest.CPUTicks(t, pid), desktoptest.Wakeups(t, pid)
	time.Sleep(5 * time.Second)
	cpu1, wake1 := desktoptest.CPUTicks(t, pid), desktoptest.Wakeups(t, pid)
	t.Logf("idle 5 s: RSS %s, CPU %d ms, %d context switches/s", desktoptest.RSS(t, pid), (cpu1-cpu0)*10, (wake1-wake0)/5)

	second := exec.Command(bin, "--socket", socket)
	second.Env = env
	out, err := second.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "already running") {
		t.Errorf("a second tray for the same user: %v, %s; want it refused as already running", err, out)
	}

	// --install-autostart writes the entry for this very binary and
	// socket, by absolute paths, and exits without touching the display.
	install := exec.Command(bin, "--install-autostart", "--socket", socket)
	install.Env = env
	if out, err := install.CombinedOutput(); err != nil {
		t.Errorf("--install-autostart: %v\n%s", err, out)
	}
	entry, err := os.ReadFile(filepath.Join(home, ".config", "autostart", "gatehouse-tray.desktop"))
	if want := fmt.Sprintf("Exec=%q \"--socket\" %q\n", bin, socket); err != nil || !strings.Contains(string(entry), want) {
		t.Errorf("the autostart entry (%v) lacks %q:\n%s", err, want, entry)
	}

	select {
	case err := <-exited:
		t.Fatalf("the tray exited by itself: %v", err)
	default:
	}
	terminate(t, tray, exited)
}

// terminate sends the tray SIGTERM and waits up to 10 s for a clean exit.
func terminate(t *testing.T, tray *exec.Cmd, exited <-chan error) {
	t.Helper()
	if err := tray.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("after SIGTERM the tray exited with %v, want 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the tray did not exit within 10 s of SIGTERM")
	}
}

// desktop is a user's session of the test's own: a virtual X display, a
// session bus, a runtime dir and home, and an agent answering on a socket.
type desktop struct {
	*desktoptest.Desktop
	bin, socket string
}

func newDesktop(t *testing.T) *desktop {
	t.Helper()
	dir := t.TempDir()
	d := &desktop{Desktop: desktoptest.New(t, dir), bin: filepath.Join(dir, "gatehouse-tray")}
	if out, err := exec.Command("go", "build", "-o", d.bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building gatehouse-tray: %v\n%s", err, out)
	}
	d.socket = fakeAgent(t, dir)
	return d
}

// startTray starts gatehouse-tray in the desktop; its output is shown if
// the test fails.
func (d *desktop) startTray(t *testing.T) (*exec.Cmd, *testenv.Buffer, <-chan error) {
	t.Helper()
	tray := exec.Command(d.bin, "--socket", d.socket)
	tray.Env = d.Env
	logs := &testenv.Buffer{} // the tray writes it while the test reads
	tray.Stdout, tray.Stderr = logs, logs
	if err := tray.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- tray.Wait() }()
	t.Cleanup(func() {
		_ = tray.Process.Kill()
		if t.Failed() {
			t.Logf("gatehouse-tray's output:\n%s", logs.String())
		}
	})
	return tray, logs, exited
}

// waitFor polls ok (an outside observer: the X server, the screen) until
// it holds, the deadline passes or the tray exits.
func waitFor(t *testing.T, deadline time.Duration, exited <-chan error, what string, ok func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !ok() {
		select {
		case err := <-exited:
			t.Fatalf("the tray exited (%v) before %s", err, what)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(end) {
			t.Fatalf("no %s within %v", what, deadline)
		}
	}
}

// fakeAgent answers the local API on a unix socket as a signed-in agent
// whose firewall is off would.
func fakeAgent(t *testing.T, dir string) string {
	t.Helper()
	firewall := api.Reason{Code: api.CodePostureFirewall, Message: "the firewall is off", Remediation: "Turn on the firewall: sudo ufw enable"}
	answers := map[string]any{
		localapi.PathStatus: localapi.Status{Connected: true, Session: localapi.Session{SignedIn: true, User: "alice"}},
		localapi.PathApps: []localapi.App{
			{Name: "grafana", Allowed: true, TunnelUp: true, LocalAddrs: []string{"127.0.0.1:8001"}},
			{Name: "db", Reasons: []api.Reason{firewall}, LocalAddrs: []string{"127.0.0.1:8002"}},
		},
		localapi.PathPosture: localapi.Posture{Checks: []api.CheckResult{{Profile: "base", Check: "firewall", Status: api.CheckFail, Reason: firewall}}},
		localapi.PathLogin:   localapi.Login{State: localapi.LoginSignedIn, User: "alice"},
	}
	mux := http.NewServeMux()
	for path, answer := range answers {
		mux.HandleFunc(path, func(w http.ResponseWriter, _ *http.Request) { _ = json.NewEncoder(w).Encode(answer) })
	}
	// The watch stream: the same state as one snapshot, then nothing
	// changes until the caller goes.
	status, posture, login := answers[localapi.PathStatus].(localapi.Status), answers[localapi.PathPosture].(localapi.Posture), answers[localapi.PathLogin].(localapi.Login)
	snap := localapi.Update{Type: localapi.UpdateSnapshot, KeepAliveMS: time.Hour.Milliseconds(), Status: &status,
		Apps: answers[localapi.PathApps].([]localapi.App), Posture: &posture, Login: &login}
	mux.HandleFunc(localapi.PathWatch, func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(snap)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	socket := filepath.Join(dir, "agent.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return socket
}
