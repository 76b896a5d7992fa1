package main

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/internal/desktoptest"
)

// TestTrayRegistersInTheSystemTray: with a tray host on the session bus,
// the real gatehouse-tray opens no window and runs no fyne driver (no GL
// library mapped) but registers a StatusNotifierItem whose menu (read
// over D-Bus as the panel reads it) carries the agent's state and whose
// icon is the amber "blocked" look; clicking Posture… opens the posture
// window in a child process, once however often it is clicked, and the
// tray sleeps while nothing changes.
func TestTrayRegistersInTheSystemTray(t *testing.T) {
	d := newDesktop(t)
	host := d.TrayHost(t)
	tray, logs, exited := d.startTray(t)
	var labels []string
	waitFor(t, 60*time.Second, exited, "a registered tray item whose menu shows the agent's state", func() bool {
		if host.Item() == "" {
			return false
		}
		labels = host.MenuLabels(host.Item())
		return slices.Contains(labels, "alice: 1 of 2 apps blocked by posture (see Posture…)")
	})
	for _, want := range []string{"✓ grafana  127.0.0.1:8001", "✗ db  blocked: the firewall is off", "Sign out", "Posture…", "Request access…", "Quit"} {
		if !slices.Contains(labels, want) {
			t.Errorf("the tray menu lacks %q: %q", want, labels)
		}
	}
	if strings.Contains(logs.String(), "no system tray") {
		t.Errorf("with a tray host the tray still fell back to a window: %s", logs.String())
	}
	if strings.Contains(d.Windows(), `"Gatehouse: `) {
		t.Error("with a tray host the tray opened its stand-in window too")
	}
	if maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", tray.Process.Pid)); err != nil || bytes.Contains(maps, []byte("_dri.so")) {
		t.Errorf("the tray process mapped libGL (%v): fyne's driver runs in it", err)
	}

	// Idle: nothing changes (the fake agent's stream keeps alive hourly),
	// so the tray sleeps. The Go runtime's own wake-ups (GC, scavenger,
	// more of them under the race detector on a busy machine) are allowed,
	// up to 10/s; fyne's driver is ~450/s. The benchmark reports the figure.
	pid := tray.Process.Pid
	time.Sleep(time.Second)
	wake0, cpu0 := desktoptest.Wakeups(t, pid), desktoptest.CPUTicks(t, pid)
	time.Sleep(5 * time.Second)
	wake, cpu := desktoptest.Wakeups(t, pid)-wake0, desktoptest.CPUTicks(t, pid)-cpu0
	t.Logf("idle 5 s in the system tray: RSS %s, CPU %d ms, %d context switches", desktoptest.RSS(t, pid), cpu*10, wake)
	if wake > 50 {
		t.Errorf("idle 5 s in the system tray: %d context switches, want ≤ 50 (no wake-ups of its own while nothing changes)", wake)
	}

	// The icon the panel draws: amber (blocked) on the disc's left side.
	w, h, px, err := host.IconPixmap(host.Item())
	if err != nil {
		t.Fatal(err)
	}
	at := 4 * (h/2*w + w/6) // ARGB, a pixel left of the mark
	if len(px) < at+4 {
		t.Fatalf("the icon is %dx%d with %d bytes", w, h, len(px))
	}
	if got, want := px[at:at+4], []byte{0xff, 0xe0, 0x9b, 0x12}; !bytes.Equal(got, want) {
		t.Errorf("the icon's disc is ARGB %x, want the blocked look's %x", got, want)
	}

	// Posture… opens the window in a child; a second click does not open
	// a second one.
	for range 2 {
		if err := host.Click(host.Item(), "Posture…"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 60*time.Second, exited, "the posture window", func() bool { return d.HasWindow("Gatehouse: posture") })
	time.Sleep(2 * time.Second) // a second child would have its window by now: a deadline, not a proof
	if n := strings.Count(d.Windows(), `"Gatehouse: posture":`); n != 1 {
		t.Errorf("two clicks on Posture… show %d posture windows, want 1", n)
	}

	// The tray quits: its window goes with it.
	terminate(t, tray, exited)
	end := time.Now().Add(10 * time.Second)
	for d.HasWindow("Gatehouse: posture") {
		if time.Now().After(end) {
			t.Fatal("the posture window outlived the tray by 10 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // the child's last writes (fyne's preferences) before the temp dir goes: a deadline
}
