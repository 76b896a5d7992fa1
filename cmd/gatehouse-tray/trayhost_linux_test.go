package main

import (
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/prop"
)

// watcher plays the desktop panel's StatusNotifierWatcher, with a host
// registered, and records the items that register.
type watcher struct {
	mu    sync.Mutex // guards items
	items []string   // the bus names of the registered items
}

func (w *watcher) RegisterStatusNotifierItem(path string, sender dbus.Sender) *dbus.Error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.items = append(w.items, string(sender))
	return nil
}

func (w *watcher) item() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.items) == 0 {
		return ""
	}
	return w.items[len(w.items)-1]
}

// TestTrayRegistersInTheSystemTray: with a tray host on the session bus,
// the real gatehouse-tray opens no window but registers a
// StatusNotifierItem whose menu (read over D-Bus as the panel reads it)
// carries the agent's state and whose icon is the amber "blocked" look.
func TestTrayRegistersInTheSystemTray(t *testing.T) {
	d := newDesktop(t)
	conn, err := dbus.Connect(d.Bus)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	w := &watcher{}
	const iface = "org.kde.StatusNotifierWatcher"
	if err := conn.Export(w, "/StatusNotifierWatcher", iface); err != nil {
		t.Fatal(err)
	}
	if _, err := prop.Export(conn, "/StatusNotifierWatcher", prop.Map{iface: {
		"IsStatusNotifierHostRegistered": {Value: true, Emit: prop.EmitFalse},
	}}); err != nil {
		t.Fatal(err)
	}
	if reply, err := conn.RequestName(iface, dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("taking %s: %v %v", iface, reply, err)
	}

	_, logs, exited := d.startTray(t)
	var labels []string
	waitFor(t, 60*time.Second, exited, "a registered tray item whose menu shows the agent's state", func() bool {
		item := w.item()
		if item == "" {
			return false
		}
		labels = menuLabels(t, conn, item)
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
	out, _ := exec.Command("xwininfo", "-display", d.Display, "-root", "-tree").Output()
	if bytes.Contains(out, []byte(`"Gatehouse: `)) {
		t.Error("with a tray host the tray opened its stand-in window too")
	}

	// The icon the panel draws: amber (blocked) on the disc's left side.
	v, err := conn.Object(w.item(), "/StatusNotifierItem").GetProperty("org.kde.StatusNotifierItem.IconPixmap")
	if err != nil {
		t.Fatalf("reading the item's icon: %v", err)
	}
	var pixmaps []struct {
		W, H int32
		Pix  []byte
	}
	if err := dbus.Store([]any{v.Value()}, &pixmaps); err != nil || len(pixmaps) == 0 {
		t.Fatalf("the item's icon %v: %v", v, err)
	}
	px := pixmaps[0]
	at := 4 * (int(px.H/2)*int(px.W) + int(px.W)/6) // ARGB, a pixel left of the mark
	if len(px.Pix) < at+4 {
		t.Fatalf("the icon is %dx%d with %d bytes", px.W, px.H, len(px.Pix))
	}
	if got, want := px.Pix[at:at+4], []byte{0xff, 0xe0, 0x9b, 0x12}; !bytes.Equal(got, want) {
		t.Errorf("the icon's disc is ARGB %x, want the blocked look's %x", got, want)
	}
}

// menuLabels reads the item's menu as a panel does (dbusmenu GetLayout).
func menuLabels(t *testing.T, conn *dbus.Conn, item string) []string {
	var revision uint32
	var layout struct {
		ID       int32
		Props    map[string]dbus.Variant
		Children []dbus.Variant
	}
	call := conn.Object(item, "/StatusNotifierMenu").Call("com.canonical.dbusmenu.GetLayout", 0, int32(0), int32(-1), []string{})
	if err := call.Store(&revision, &layout); err != nil {
		t.Logf("reading the tray's menu: %v", err)
		return nil
	}
	var labels []string
	for _, c := range layout.Children {
		var child struct {
			ID       int32
			Props    map[string]dbus.Variant
			Children []dbus.Variant
		}
		if err := dbus.Store([]any{c.Value()}, &child); err != nil {
			t.Logf("a menu item: %v", err)
			continue
		}
		if l, ok := child.Props["label"].Value().(string); ok {
			labels = append(labels, l)
		}
	}
	return labels
}
