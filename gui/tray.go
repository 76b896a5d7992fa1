package gui

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/widget"
)

// Options are what a Tray is given besides its app.
type Options struct {
	Actions Actions
	// Now is the clock that says when approved access is expiring; nil is
	// time.Now.
	Now func() time.Time
}

// Tray is the running tray app: the system tray icon and menu (or, where
// the desktop has no tray, a window with the same content) and the windows
// opened from it. Update hands it each new State.
type Tray struct {
	ctx     context.Context
	app     fyne.App
	actions Actions
	now     func() time.Time
	// desk is the system tray; nil when the desktop has none and main
	// stands in for it.
	desk desktop.App
	// busy counts actions running off the UI goroutine (tests wait on it).
	busy sync.WaitGroup

	// The fields below are touched only on the fyne goroutine.
	state   State
	look    Look
	menuSig string
	// trayMenu is the one menu the system tray is given.
	trayMenu *fyne.Menu
	main     *mainWindow // the stand-in for the tray; nil with a tray
	posture  *postureWindow
	apps     *appsWindow
	signIn   *signInWindow
	// started is the sign-in the last SignIn action started, shown until
	// the State has it.
	started SignIn
	// child: the Tray only opens windows for a tray running elsewhere
	// (NewWindowChild); open counts its windows on screen.
	child bool
	open  int
}

// NewTray puts the tray icon and menu in desk, the app's system tray.
// Call it on the fyne goroutine (before the app runs, or in fyne.Do).
func NewTray(ctx context.Context, app fyne.App, desk desktop.App, o Options) *Tray {
	t := newTray(ctx, app, o)
	t.desk = desk
	t.drawTray()
	return t
}

// NewWindowed shows the tray's content in a normal window instead, for a
// desktop without a system tray; why says so at its top. Closing it quits.
func NewWindowed(ctx context.Context, app fyne.App, why string, o Options) *Tray {
	t := newTray(ctx, app, o)
	t.main = newMainWindow(t, why)
	t.main.win.Show()
	return t
}

// Window names a window a child process opens alone (NewWindowChild).
type Window string

const (
	WindowPosture Window = "posture"
	WindowApps    Window = "apps"
	WindowSignIn  Window = "signin" // starts a sign-in and shows its code
)

// NewWindowChild is a Tray without tray icon or stand-in window, for a
// process the quiet tray (gui/sni) starts to show one window: it sends no
// desktop notifications (the tray process does) and quits the app when
// its last window closes. Open shows the window.
func NewWindowChild(ctx context.Context, app fyne.App, o Options) *Tray {
	t := newTray(ctx, app, o)
	t.child = true
	return t
}

// Open shows w; call it on the fyne goroutine (in fyne.Do), after the
// first Update so the window opens with the agent's state.
func (t *Tray) Open(w Window) error {
	switch w {
	case WindowPosture:
		t.showPosture()
	case WindowApps:
		t.showApps()
	case WindowSignIn:
		t.startSignIn()
	default:
		return fmt.Errorf("no window %q: want %s, %s or %s", w, WindowPosture, WindowApps, WindowSignIn)
	}
	return nil
}

// newWindow makes a window that, when closed, runs onClosed and, in a
// window child, quits the app if it was the last one.
func (t *Tray) newWindow(title string, onClosed func()) fyne.Window {
	w := t.app.NewWindow(title)
	t.open++
	w.SetOnClosed(func() {
		if onClosed != nil {
			onClosed()
		}
		t.open--
		if t.child && t.open == 0 {
			t.app.Quit()
		}
	})
	return w
}

func newTray(ctx context.Context, app fyne.App, o Options) *Tray {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	return &Tray{ctx: ctx, app: app, actions: o.Actions, now: now, look: -1}
}

// Update shows s: the icon, the menu and every open window change in
// place, and the desktop notifications the change calls for are sent. Call
// it from a goroutine of the caller's (the State stream's), not the fyne
// goroutine: it hands s over with fyne.Do.
func (t *Tray) Update(s State) {
	fyne.Do(func() { t.apply(s) })
}

func (t *Tray) apply(s State) {
	notes := Notifications(t.state, s)
	t.state = s
	if t.child {
		notes = nil // the tray process notifies
	}
	for _, n := range notes {
		t.app.SendNotification(fyne.NewNotification(n.Title, n.Body))
	}
	if t.desk != nil {
		t.drawTray()
	}
	if t.main != nil {
		t.main.draw()
	}
	if t.posture != nil {
		t.posture.draw()
	}
	if t.apps != nil {
		t.apps.draw()
	}
	if t.signIn != nil {
		t.signIn.draw()
	}
}

// drawTray sets the icon and menu where they changed (each set redraws
// the host's menu: not on every State).
func (t *Tray) drawTray() {
	if look := t.state.Look(); look != t.look {
		t.look = look
		t.desk.SetSystemTrayIcon(Icon(look))
	}
	m := t.menu()
	sig := MenuSignature(m)
	if sig == t.menuSig {
		return
	}
	t.menuSig = sig
	// One Menu, its items replaced: fyne's Linux tray re-applies the menu
	// it was first given once the tray host answers (asynchronously), so a
	// fresh Menu per State would be overwritten by the first, stale one.
	if t.trayMenu == nil {
		t.trayMenu = m
	} else {
		t.trayMenu.Items = m.Items
	}
	t.desk.SetSystemTrayMenu(t.trayMenu)
}

// menu is the tray menu for the current State.
func (t *Tray) menu() *fyne.Menu {
	return Menu(t.state, MenuActions{
		Copy:    t.actions.Copy,
		SignIn:  t.startSignIn,
		SignOut: t.signOut,
		Posture: t.showPosture,
		Apps:    t.showApps,
		Quit:    t.app.Quit,
	})
}

// MenuActions are what the tray menu's items do.
type MenuActions struct {
	Copy                                 func(text string)
	SignIn, SignOut, Posture, Apps, Quit func()
}

// Menu is the tray menu for s: the status line, the apps (click copies
// the address), Sign in / Sign out, Posture…, Request access…, Quit. It
// is data only (no driver needed): fyne's tray draws it, and so does
// gui/sni where the tray runs without fyne's driver.
func Menu(s State, do MenuActions) *fyne.Menu {
	status := fyne.NewMenuItem(s.StatusLine(), nil)
	status.Disabled = true
	items := []*fyne.MenuItem{status, fyne.NewMenuItemSeparator()}
	for _, a := range s.Apps {
		items = append(items, appMenuItem(a, do.Copy))
	}
	if len(s.Apps) > 0 {
		items = append(items, fyne.NewMenuItemSeparator())
	}
	signInOut := fyne.NewMenuItem("Sign in…", do.SignIn)
	if s.SignIn.Step == SignedIn {
		signInOut = fyne.NewMenuItem("Sign out", do.SignOut)
	}
	signInOut.Disabled = !s.AgentUp
	quit := fyne.NewMenuItem("Quit", do.Quit)
	quit.IsQuit = true
	items = append(items, signInOut,
		fyne.NewMenuItem("Posture…", do.Posture),
		fyne.NewMenuItem("Request access…", do.Apps),
		fyne.NewMenuItemSeparator(), quit)
	return fyne.NewMenu("Gatehouse", items...)
}

// appMenuItem is "✓ grafana  127.0.0.1:8001" (click copies the address)
// or "✗ db  blocked: the firewall is off"; an app with several addresses
// lists them in a submenu.
func appMenuItem(a App, copyText func(string)) *fyne.MenuItem {
	item := fyne.NewMenuItem(appLine(a), nil)
	switch {
	case len(a.Addresses) == 1:
		addr := a.Addresses[0]
		item.Action = func() { copyText(addr) }
	case len(a.Addresses) > 1:
		var sub []*fyne.MenuItem
		for _, addr := range a.Addresses {
			sub = append(sub, fyne.NewMenuItem("Copy "+addr, func() { copyText(addr) }))
		}
		item.ChildMenu = fyne.NewMenu("", sub...)
	}
	return item
}

// appLine is an app in one line: allowed with its address, or blocked
// with the first reason.
func appLine(a App) string {
	if a.Allowed {
		line := "✓ " + a.Name
		if len(a.Addresses) > 0 {
			line += "  " + strings.Join(a.Addresses, ", ")
		}
		return line
	}
	if len(a.Reasons) > 0 {
		return "✗ " + a.Name + "  blocked: " + a.Reasons[0].Text
	}
	return "✗ " + a.Name + "  blocked"
}

// MenuSignature is m's labels, disabled marks and submenus in one
// string: equal signatures draw the same menu (set it only when it
// changes: each set rebuilds the host's menu over D-Bus).
func MenuSignature(m *fyne.Menu) string {
	var b strings.Builder
	var walk func(*fyne.Menu)
	walk = func(m *fyne.Menu) {
		for _, i := range m.Items {
			b.WriteString(i.Label)
			if i.Disabled {
				b.WriteString("\x00d")
			}
			if i.ChildMenu != nil {
				b.WriteString("\x00[")
				walk(i.ChildMenu)
				b.WriteString("\x00]")
			}
			b.WriteString("\x00\n")
		}
	}
	walk(m)
	return b.String()
}

// background runs an action off the fyne goroutine; done runs back on it.
func (t *Tray) background(work func(ctx context.Context) error, done func(error)) {
	t.busy.Add(1)
	go func() {
		defer t.busy.Done()
		ctx, cancel := context.WithTimeout(t.ctx, 30*time.Second)
		defer cancel()
		err := work(ctx)
		fyne.Do(func() { done(err) })
	}()
}

func (t *Tray) startSignIn() {
	var started SignIn
	t.background(func(ctx context.Context) error {
		var err error
		started, err = t.actions.SignIn(ctx)
		return err
	}, func(err error) {
		if err != nil {
			t.showError("Could not sign in", err)
			return
		}
		t.started = started
		t.showSignIn()
		if err := t.actions.OpenURL(started.URL); err != nil {
			t.signIn.note.SetText("Open this page in your browser: " + started.URL)
		}
	})
}

func (t *Tray) signOut() {
	t.background(t.actions.SignOut, func(err error) {
		if err != nil {
			t.showError("Sign-out", err)
		}
	})
}

// showError opens a small window with what went wrong (the error says
// what to do next).
func (t *Tray) showError(title string, err error) {
	w := t.newWindow("Gatehouse: "+title, nil)
	msg := widget.NewLabel(err.Error())
	msg.Wrapping = fyne.TextWrapWord
	w.SetContent(container.NewBorder(nil, widget.NewButton("Close", w.Close), nil, nil, msg))
	w.Resize(fyne.NewSize(420, 160))
	w.Show()
}
