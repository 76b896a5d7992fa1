package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/api"
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
	bin, socket, display, fb, home, env := d.bin, d.socket, d.display, d.fb, d.home, d.env

	// The window's title carries the status line: the agent's State
	// reached the window when it names alice's blocked app.
	start := time.Now()
	waitFor(t, 60*time.Second, exited, "the tray's window showing the agent's state", func() bool {
		out, _ := exec.Command("xwininfo", "-display", display, "-root", "-tree").Output()
		return bytes.Contains(out, []byte(`"Gatehouse: alice: 1 of 2 apps blocked by posture (see Posture…)"`))
	})
	t.Logf("window up with the agent's state %v after start", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(logs.String(), "no system tray") {
		t.Errorf("the tray did not say why it opened a window; its output:\n%s", logs.String())
	}

	// Let it draw, then keep the screen.
	time.Sleep(500 * time.Millisecond) // the title is set before the frame is drawn: a deadline, not a proof
	var shot image.Image
	waitFor(t, 20*time.Second, exited, "a drawn window on the screen", func() bool {
		img, err := readXWD(filepath.Join(fb, "Xvfb_screen0"))
		if err != nil {
			t.Logf("reading the screen: %v", err)
			return false
		}
		shot = img
		return colours(img) > 20 // text drawn, not a blank rectangle
	})
	if out, err := filepath.Abs(filepath.Join("..", "..", "bin", "tray-smoke.png")); err == nil {
		if err := savePNG(out, shot); err != nil {
			t.Errorf("saving the screenshot: %v", err)
		} else {
			t.Logf("screenshot: %s", out)
		}
	}

	// Idle: nothing changes for 5 s. fyne's GLFW loop wakes 60 times a
	// second on its own (its event ticker), so wake-ups are measured and
	// reported, not required to be zero.
	pid := tray.Process.Pid
	cpu0, wake0 := cpuTicks(t, pid), wakeups(t, pid)
	time.Sleep(5 * time.Second)
	cpu1, wake1 := cpuTicks(t, pid), wakeups(t, pid)
	t.Logf("idle 5 s: RSS %s, CPU %d ms, %d context switches/s", rss(t, pid), (cpu1-cpu0)*10, (wake1-wake0)/5)

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
	if err := tray.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("after SIGTERM the tray exited with %v, want 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("the tray did not exit within 10 s of SIGTERM")
	}
}

// cpuTicks is the process's user+system time in clock ticks (100/s).
func cpuTicks(t *testing.T, pid int) int {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	var utime, stime int
	fmt.Sscan(fields[11], &utime)
	fmt.Sscan(fields[12], &stime)
	return utime + stime
}

// wakeups sums the context switches of every thread of the process.
func wakeups(t *testing.T, pid int) int {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("no threads of %d: %v", pid, err)
	}
	n := 0
	for _, task := range tasks {
		status, err := os.ReadFile(task)
		if err != nil {
			continue // a thread that ended
		}
		for _, line := range strings.Split(string(status), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.HasSuffix(k, "ctxt_switches") {
				var c int
				fmt.Sscan(v, &c)
				n += c
			}
		}
	}
	return n
}

func rss(t *testing.T, pid int) string {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// lockedBuffer is a bytes.Buffer safe for one writer and one reader.
type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// desktop is a user's session of the test's own: a virtual X display, a
// session bus, a runtime dir and home, and an agent answering on a socket.
type desktop struct {
	bin, socket, display, fb, home, bus string
	env                                 []string
}

func newDesktop(t *testing.T) *desktop {
	t.Helper()
	for _, tool := range []string{"Xvfb", "xwininfo", "dbus-daemon"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.SkipOrFail(t, tool+" is not installed (Debian: xvfb, x11-utils, dbus-daemon)")
		}
	}
	dir := t.TempDir()
	d := &desktop{bin: filepath.Join(dir, "gatehouse-tray"), fb: filepath.Join(dir, "fb"), home: filepath.Join(dir, "home")}
	if out, err := exec.Command("go", "build", "-o", d.bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building gatehouse-tray: %v\n%s", err, out)
	}
	d.socket = fakeAgent(t, dir)
	if err := os.Mkdir(d.fb, 0o700); err != nil {
		t.Fatal(err)
	}
	d.display, d.bus = startXvfb(t, d.fb), startBus(t)
	d.env = append(os.Environ(), "DISPLAY="+d.display, "DBUS_SESSION_BUS_ADDRESS="+d.bus,
		"XDG_RUNTIME_DIR="+dir, "HOME="+d.home, "XDG_CONFIG_HOME="+filepath.Join(d.home, ".config"), "WAYLAND_DISPLAY=")
	return d
}

// startTray starts gatehouse-tray in the desktop; its output is shown if
// the test fails.
func (d *desktop) startTray(t *testing.T) (*exec.Cmd, *lockedBuffer, <-chan error) {
	t.Helper()
	tray := exec.Command(d.bin, "--socket", d.socket)
	tray.Env = d.env
	logs := &lockedBuffer{} // the tray writes it while the test reads
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

// startXvfb starts a virtual display (the first free one, -displayfd)
// keeping its screen as an XWD file in fb.
func startXvfb(t *testing.T, fb string) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	x := exec.Command("Xvfb", "-displayfd", "3", "-screen", "0", "800x600x24", "-fbdir", fb, "-nolisten", "tcp")
	x.ExtraFiles = []*os.File{w}
	if err := x.Start(); err != nil {
		t.Fatalf("starting Xvfb: %v", err)
	}
	w.Close()
	t.Cleanup(func() { _ = x.Process.Kill(); _ = x.Wait() })
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		t.Fatalf("Xvfb named no display: %v", err)
	}
	return ":" + strings.TrimSpace(line)
}

// startBus starts a session bus of the test's own: nothing on it plays a
// tray host.
func startBus(t *testing.T) string {
	t.Helper()
	d := exec.Command("dbus-daemon", "--session", "--nofork", "--print-address")
	out, err := d.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatalf("starting dbus-daemon: %v", err)
	}
	t.Cleanup(func() { _ = d.Process.Kill(); _ = d.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("dbus-daemon printed no address: %v", err)
	}
	return strings.TrimSpace(addr)
}

// readXWD decodes the 24/32-bit TrueColor XWD file Xvfb keeps its screen
// in (-fbdir).
func readXWD(path string) (image.Image, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) < 100 {
		return nil, errors.New("short XWD header")
	}
	var order binary.ByteOrder = binary.BigEndian
	if order.Uint32(data[4:]) != 7 { // file_version
		order = binary.LittleEndian
	}
	field := func(i int) int { return int(order.Uint32(data[4*i:])) }
	headerSize, width, height, byteOrder := field(0), field(4), field(5), field(7)
	bpp, stride, ncolors := field(11), field(12), field(19)
	if field(1) != 7 || bpp != 32 {
		return nil, fmt.Errorf("XWD version %d, %d bits per pixel: want version 7, 32 bits", field(1), bpp)
	}
	off := headerSize + 12*ncolors
	if len(data) < off+stride*height {
		return nil, errors.New("short XWD pixels")
	}
	img := image.NewNRGBA(image.Rect(0, 0, width, height))
	for y := 0; y < height; y++ {
		for x := 0; x < width; x++ {
			p := data[off+y*stride+4*x:]
			var v uint32
			if byteOrder == 0 { // LSBFirst
				v = binary.LittleEndian.Uint32(p)
			} else {
				v = binary.BigEndian.Uint32(p)
			}
			img.SetNRGBA(x, y, color.NRGBA{uint8(v >> 16), uint8(v >> 8), uint8(v), 0xff})
		}
	}
	return img, nil
}

func colours(img image.Image) int {
	seen := map[color.Color]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			seen[img.At(x, y)] = true
		}
	}
	return len(seen)
}

func savePNG(path string, img image.Image) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
