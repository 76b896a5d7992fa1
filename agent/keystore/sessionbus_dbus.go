//go:build !darwin && !windows

package keystore

import (
	"errors"
	"os"
	"path/filepath"
)

// sessionBus fails when there is no D-Bus session bus to find the Secret
// Service on. Without this check go-keyring's D-Bus library would start
// a bus of its own (dbus-launch) for a headless service, and the bus
// would activate a keyring daemon: both outlive the agent, one pair per
// start, and the keyring is locked anyway.
func sessionBus() error {
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		return nil
	}
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "bus")); err == nil {
			return nil
		}
	}
	return errors.New("no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set), so no Secret Service")
}
