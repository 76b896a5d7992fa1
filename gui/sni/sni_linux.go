package sni

import (
	"context"
	"fmt"
	"log"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/systray"
	"github.com/godbus/dbus/v5"

	"github.com/gatehouse-ztna/gatehouse/gui"
)

// Supported: Linux runs the quiet tray.
const Supported = true

// Run registers the tray icon and menu on the session bus and shows every
// State from source as it arrives: the icon where the look changed, the
// menu where its text changed, and the notifications the change calls
// for. It returns when ctx ends, source closes or the user picks Quit.
// Call it once per process: the StatusNotifierItem is the process's.
func Run(ctx context.Context, source <-chan gui.State, h Handlers) error {
	conn, err := dbus.SessionBus()
	if err != nil {
		return fmt.Errorf("no desktop session bus for the tray: %w", err)
	}
	ctx, quit := context.WithCancel(ctx)
	defer quit()
	systray.SetTitle("Gatehouse") // some hosts misbehave on an item without one
	start, end := systray.RunWithExternalLoop(nil, nil)
	start()
	defer end()

	t := &tray{h: h, quit: quit, notifier: Notifier{Conn: conn}, look: -1}
	t.show(gui.State{})
	for {
		select {
		case <-ctx.Done():
			t.wait()
			return nil
		case s, ok := <-source:
			if !ok {
				return nil
			}
			t.show(s)
		}
	}
}

// tray is the running item; show is called only from Run's goroutine.
type tray struct {
	h        Handlers
	quit     context.CancelFunc
	notifier Notifier
	// busy counts click handlers still running (Run waits for them).
	busy sync.WaitGroup

	// Touched only by show.
	state   gui.State
	look    gui.Look
	menuSig string
}

func (t *tray) show(s gui.State) {
	notes := gui.Notifications(t.state, s)
	t.state = s
	for _, n := range notes {
		if err := t.notifier.Notify(n); err != nil {
			log.Printf("gatehouse-tray: %v", err)
		}
	}
	if look := s.Look(); look != t.look {
		t.look = look
		systray.SetIcon(gui.Icon(look).Content())
	}
	systray.SetTooltip(s.StatusLine())
	m := gui.Menu(s, gui.MenuActions{
		Copy:    t.copy,
		SignIn:  func() { t.h.Open(gui.WindowSignIn) },
		SignOut: t.signOut,
		Posture: func() { t.h.Open(gui.WindowPosture) },
		Apps:    func() { t.h.Open(gui.WindowApps) },
		Quit:    t.quit,
	})
	// Set only when it changes: each set rebuilds the host's menu.
	if sig := gui.MenuSignature(m); sig != t.menuSig {
		t.menuSig = sig
		systray.ResetMenu()
		addItems(m, nil)
	}
}

// addItems puts m's items in the tray menu (under parent, or at the top);
// each item's clicks run its action on a goroutine of its own, which ends
// when the next ResetMenu removes the item (closing its channel).
func addItems(m *fyne.Menu, parent *systray.MenuItem) {
	for _, i := range m.Items {
		if i.IsSeparator {
			if parent == nil {
				systray.AddSeparator()
			} else {
				parent.AddSeparator()
			}
			continue
		}
		var item *systray.MenuItem
		if parent == nil {
			item = systray.AddMenuItem(i.Label, "")
		} else {
			item = parent.AddSubMenuItem(i.Label, "")
		}
		if i.Disabled {
			item.Disable()
		}
		if i.ChildMenu != nil {
			addItems(i.ChildMenu, item)
		}
		if action := i.Action; action != nil {
			go func() {
				for range item.ClickedCh {
					action()
				}
			}()
		}
	}
}

// signOut runs off the menu's goroutine; an error is a notification (the
// tray has no window to put it in).
func (t *tray) signOut() {
	t.background(func() error { return t.h.SignOut() }, "Sign-out failed")
}

func (t *tray) copy(text string) {
	t.background(func() error { return t.h.Copy(text) }, "Could not copy "+text)
}

func (t *tray) background(work func() error, title string) {
	t.busy.Add(1)
	go func() {
		defer t.busy.Done()
		if err := work(); err != nil {
			if err := t.notifier.Notify(gui.Notification{Title: title, Body: err.Error()}); err != nil {
				log.Printf("gatehouse-tray: %s: %v", title, err)
			}
		}
	}()
}

// wait waits for running handlers, at most 5 s (a handler's own timeout
// ends it sooner).
func (t *tray) wait() {
	done := make(chan struct{})
	go func() { t.busy.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
}

// Notifier sends desktop notifications over D-Bus
// (org.freedesktop.Notifications, the Desktop Notifications
// Specification), as fyne's driver would, without the driver.
type Notifier struct {
	Conn *dbus.Conn
}

// Notify shows n; the daemon has 5 s to take it.
func (n Notifier) Notify(note gui.Notification) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	call := n.Conn.Object("org.freedesktop.Notifications", "/org/freedesktop/Notifications").CallWithContext(ctx,
		"org.freedesktop.Notifications.Notify", 0,
		"Gatehouse", uint32(0), "", note.Title, note.Body, []string{}, map[string]dbus.Variant{}, int32(-1))
	if call.Err != nil {
		return fmt.Errorf("sending the notification %q: %w", note.Title, call.Err)
	}
	return nil
}
