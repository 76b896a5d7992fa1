//go:build !darwin && !windows

package keystore

import (
	"strings"
	"testing"
)

// TestOpenWithoutSessionBus: with no session bus the keyring is not
// asked (asking would start a bus and a keyring daemon that outlive the
// agent); the secrets go to files.
func TestOpenWithoutSessionBus(t *testing.T) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	k := Keyring{Service: "gatehouse-test-nobus"}
	if err := k.Probe(); err == nil || !strings.Contains(err.Error(), "no D-Bus session bus") {
		t.Errorf("Probe() without a session bus = %v, want an error saying so", err)
	}
	dir := t.TempDir()
	if got, want := Open(k.Service, dir).Where(), (Files{Dir: dir}).Where(); got != want {
		t.Errorf("Open() without a session bus = %q, want %q", got, want)
	}
}
