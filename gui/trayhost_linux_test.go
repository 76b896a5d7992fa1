package gui

import (
	"bufio"
	"os/exec"
	"strings"
	"testing"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/prop"

	"github.com/gatehouse-ztna/gatehouse/internal/testenv"
)

// privateBus starts a session bus of the test's own and returns its
// address.
func privateBus(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("dbus-daemon"); err != nil {
		testenv.SkipOrFail(t, "dbus-daemon is not installed (Debian: dbus-daemon)")
	}
	cmd := exec.Command("dbus-daemon", "--session", "--nofork", "--print-address")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting dbus-daemon: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("dbus-daemon printed no address: %v", err)
	}
	return strings.TrimSpace(addr)
}

func dial(t *testing.T, addr string) *dbus.Conn {
	t.Helper()
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatalf("connecting to the private bus: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// serveWatcher plays the desktop's StatusNotifierWatcher on conn, with a
// host registered or not.
func serveWatcher(t *testing.T, conn *dbus.Conn, hostRegistered bool) {
	t.Helper()
	_, err := prop.Export(conn, sniWatcherPath, prop.Map{sniWatcher: {
		"IsStatusNotifierHostRegistered": {Value: hostRegistered, Emit: prop.EmitFalse},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if reply, err := conn.RequestName(sniWatcher, dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("taking %s: %v (%v)", sniWatcher, reply, err)
	}
}

// TestTrayHostOnTheSessionBus: no watcher, a watcher with no panel behind
// it, and a watcher with a host: only the last is a tray.
func TestTrayHostOnTheSessionBus(t *testing.T) {
	t.Run("no watcher", func(t *testing.T) {
		err := sniHost(dial(t, privateBus(t)))
		if err == nil || !strings.Contains(err.Error(), "no StatusNotifierItem tray host") {
			t.Errorf("sniHost() = %v, want the no-tray-host error", err)
		}
	})
	t.Run("watcher without a host", func(t *testing.T) {
		addr := privateBus(t)
		serveWatcher(t, dial(t, addr), false)
		err := sniHost(dial(t, addr))
		if err == nil || !strings.Contains(err.Error(), "no StatusNotifierItem host registered") {
			t.Errorf("sniHost() = %v, want the no-host-registered error", err)
		}
	})
	t.Run("watcher with a host", func(t *testing.T) {
		addr := privateBus(t)
		serveWatcher(t, dial(t, addr), true)
		if err := sniHost(dial(t, addr)); err != nil {
			t.Errorf("sniHost() = %v, want a tray", err)
		}
	})
	t.Run("no session bus", func(t *testing.T) {
		t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
		err := trayHost()
		if err == nil || !strings.Contains(err.Error(), "no desktop session bus") {
			t.Errorf("trayHost() = %v, want the no-session-bus error", err)
		}
	})
}
