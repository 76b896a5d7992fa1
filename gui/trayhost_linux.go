package gui

import (
	"errors"
	"fmt"

	"github.com/godbus/dbus/v5"
)

// The StatusNotifierItem protocol (freedesktop, from KDE): the tray host
// (the panel) registers with a watcher that owns this name on the session
// bus; an app's icon shows only when both are there. fyne's tray speaks
// only this protocol, not the older XEmbed one.
const (
	sniWatcher     = "org.kde.StatusNotifierWatcher"
	sniWatcherPath = "/StatusNotifierWatcher"
)

// trayHost checks the desktop session's bus for a StatusNotifierItem host.
func trayHost() error {
	conn, err := dbus.ConnectSessionBus() // a private connection: fyne shares dbus.SessionBus()
	if err != nil {
		return fmt.Errorf("no desktop session bus (%v), so no system tray can be reached", err)
	}
	defer conn.Close()
	return sniHost(conn)
}

// sniHost asks the bus for a watcher and whether a host registered with it.
func sniHost(conn *dbus.Conn) error {
	var owned bool
	if err := conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, sniWatcher).Store(&owned); err != nil {
		return fmt.Errorf("could not ask the session bus for a system tray: %w", err)
	}
	if !owned {
		return errors.New("the desktop runs no StatusNotifierItem tray host (on GNOME, install the AppIndicator extension)")
	}
	v, err := conn.Object(sniWatcher, sniWatcherPath).GetProperty(sniWatcher + ".IsStatusNotifierHostRegistered")
	if err != nil {
		return fmt.Errorf("the desktop's tray watcher did not answer (%v)", err)
	}
	if registered, ok := v.Value().(bool); !ok || !registered {
		return errors.New("the desktop's tray watcher runs, but no panel shows its icons (no StatusNotifierItem host registered)")
	}
	return nil
}
