package desktoptest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/prop"
)

// TrayHost plays the desktop panel's StatusNotifierWatcher on the session
// bus, with a host registered, and reads the items that register as a
// panel does.
type TrayHost struct {
	conn  *dbus.Conn
	mu    sync.Mutex // guards items
	items []string   // the bus names of the registered items, oldest first
}

// RegisterStatusNotifierItem is the watcher's method: an item registers.
func (h *TrayHost) RegisterStatusNotifierItem(path string, sender dbus.Sender) *dbus.Error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.items = append(h.items, string(sender))
	return nil
}

// Item is the bus name of the last item that registered, "" while none.
func (h *TrayHost) Item() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.items) == 0 {
		return ""
	}
	return h.items[len(h.items)-1]
}

// TrayHost starts a tray host on the desktop's bus; it ends with the test.
func (d *Desktop) TrayHost(t testing.TB) *TrayHost {
	t.Helper()
	conn, err := dbus.Connect(d.Bus)
	if err != nil {
		t.Fatalf("connect to the session bus: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	h := &TrayHost{conn: conn}
	const iface = "org.kde.StatusNotifierWatcher"
	if err := conn.Export(h, "/StatusNotifierWatcher", iface); err != nil {
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
	return h
}

// MenuItem is one top-level item of a tray menu as the panel reads it.
type MenuItem struct {
	ID      int32
	Label   string
	Enabled bool
}

// Menu reads the item's menu as a panel does (dbusmenu GetLayout):
// its top-level items, separators left out.
func (h *TrayHost) Menu(item string) ([]MenuItem, error) {
	var revision uint32
	var layout struct {
		ID       int32
		Props    map[string]dbus.Variant
		Children []dbus.Variant
	}
	call := h.conn.Object(item, "/StatusNotifierMenu").Call("com.canonical.dbusmenu.GetLayout", 0, int32(0), int32(-1), []string{})
	if err := call.Store(&revision, &layout); err != nil {
		return nil, fmt.Errorf("reading the tray's menu: %w", err)
	}
	var out []MenuItem
	for _, c := range layout.Children {
		var child struct {
			ID       int32
			Props    map[string]dbus.Variant
			Children []dbus.Variant
		}
		if err := dbus.Store([]any{c.Value()}, &child); err != nil {
			return nil, fmt.Errorf("a menu item: %w", err)
		}
		label, ok := child.Props["label"].Value().(string)
		if !ok {
			continue // a separator
		}
		enabled, ok := child.Props["enabled"].Value().(bool)
		out = append(out, MenuItem{ID: child.ID, Label: label, Enabled: enabled || !ok})
	}
	return out, nil
}

// MenuLabels are the labels of Menu, "" entries never; nil on an error.
func (h *TrayHost) MenuLabels(item string) []string {
	items, err := h.Menu(item)
	if err != nil {
		return nil
	}
	var labels []string
	for _, i := range items {
		labels = append(labels, i.Label)
	}
	return labels
}

// Click clicks the menu item labelled label, as a panel does (dbusmenu
// Event "clicked").
func (h *TrayHost) Click(item, label string) error {
	items, err := h.Menu(item)
	if err != nil {
		return err
	}
	for _, i := range items {
		if i.Label == label {
			return h.conn.Object(item, "/StatusNotifierMenu").Call("com.canonical.dbusmenu.Event", 0,
				i.ID, "clicked", dbus.MakeVariant(""), uint32(0)).Err
		}
	}
	return fmt.Errorf("the tray's menu has no %q", label)
}

// IconPixmap is the item's icon as the panel draws it: width, height and
// ARGB bytes of the first pixmap.
func (h *TrayHost) IconPixmap(item string) (w, ht int, argb []byte, err error) {
	v, err := h.conn.Object(item, "/StatusNotifierItem").GetProperty("org.kde.StatusNotifierItem.IconPixmap")
	if err != nil {
		return 0, 0, nil, fmt.Errorf("reading the item's icon: %w", err)
	}
	var pixmaps []struct {
		W, H int32
		Pix  []byte
	}
	if err := dbus.Store([]any{v.Value()}, &pixmaps); err != nil || len(pixmaps) == 0 {
		return 0, 0, nil, fmt.Errorf("the item's icon %v: %v", v, err)
	}
	return int(pixmaps[0].W), int(pixmaps[0].H), pixmaps[0].Pix, nil
}
