package desktoptest

import (
	"slices"
	"sync"
	"testing"

	"github.com/godbus/dbus/v5"
)

// Note is one desktop notification a program sent.
type Note struct {
	App, Summary, Body string
}

// Notifier plays the desktop's notification daemon
// (org.freedesktop.Notifications) on the session bus and keeps what it is
// sent.
type Notifier struct {
	mu    sync.Mutex // guards notes
	notes []Note
}

// Notify is the daemon's method, as the Desktop Notifications
// Specification defines it.
func (n *Notifier) Notify(app string, _ uint32, _, summary, body string, _ []string, _ map[string]dbus.Variant, _ int32) (uint32, *dbus.Error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.notes = append(n.notes, Note{App: app, Summary: summary, Body: body})
	return uint32(len(n.notes)), nil
}

// Notes are the notifications received so far, oldest first.
func (n *Notifier) Notes() []Note {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.notes)
}

// Notifications starts a notification daemon on the desktop's bus; it
// ends with the test.
func (d *Desktop) Notifications(t testing.TB) *Notifier {
	t.Helper()
	conn, err := dbus.Connect(d.Bus)
	if err != nil {
		t.Fatalf("connect to the session bus: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	n := &Notifier{}
	const name = "org.freedesktop.Notifications"
	if err := conn.ExportMethodTable(map[string]any{"Notify": n.Notify}, "/org/freedesktop/Notifications", name); err != nil {
		t.Fatal(err)
	}
	if reply, err := conn.RequestName(name, dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own %s on the session bus: %v (reply %d)", name, err, reply)
	}
	return n
}
