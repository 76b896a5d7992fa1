package gui

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
)

// fakeActions records what the tray asks for.
type fakeActions struct {
	mu       sync.Mutex // guards the fields below
	signIn   SignIn
	requests []request
	opened   []string
	copied   []string
	signOuts int
	err      error // every call's error
}

type request struct {
	app, reason string
	d           time.Duration
}

var _ Actions = (*fakeActions)(nil)

func (f *fakeActions) SignIn(context.Context) (SignIn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.signIn, f.err
}

func (f *fakeActions) SignOut(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.signOuts++
	return f.err
}

func (f *fakeActions) RequestAccess(_ context.Context, app, reason string, d time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, request{app, reason, d})
	return f.err
}

func (f *fakeActions) OpenURL(u string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opened = append(f.opened, u)
	return nil
}

func (f *fakeActions) Copy(text string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.copied = append(f.copied, text)
}

// trayApp is fyne's test app with a system tray and notifications that
// tests can read.
type trayApp struct {
	fyne.App
	icon  fyne.Resource
	menu  *fyne.Menu
	menus int // how many times the menu was set
	notes []*fyne.Notification
	quits int
}

func (a *trayApp) Quit() { a.quits++ }

func (a *trayApp) SetSystemTrayMenu(m *fyne.Menu)        { a.menu = m; a.menus++ }
func (a *trayApp) SetSystemTrayIcon(r fyne.Resource)     { a.icon = r }
func (a *trayApp) SetSystemTrayWindow(fyne.Window)       {}
func (a *trayApp) SendNotification(n *fyne.Notification) { a.notes = append(a.notes, n) }
func newTrayApp(t *testing.T) *trayApp                   { return &trayApp{App: test.NewTempApp(t)} }
func (a *trayApp) menuLabels() []string                  { return labels(a.menu) }
func (a *trayApp) item(t *testing.T, prefix string) *fyne.MenuItem {
	return findItem(t, a.menu, prefix)
}

func labels(m *fyne.Menu) []string {
	var out []string
	for _, i := range m.Items {
		if !i.IsSeparator {
			out = append(out, i.Label)
		}
	}
	return out
}

func findItem(t *testing.T, m *fyne.Menu, prefix string) *fyne.MenuItem {
	t.Helper()
	for _, i := range m.Items {
		if strings.HasPrefix(i.Label, prefix) {
			return i
		}
	}
	t.Fatalf("menu has no item starting %q: %q", prefix, labels(m))
	return nil
}

// texts are the texts of every label, button and entry in a window, in
// layout order.
func texts(w fyne.Window) []string {
	var out []string
	for _, o := range test.LaidOutObjects(w.Content()) {
		switch o := o.(type) {
		case *widget.Label:
			out = append(out, o.Text)
		case *widget.Button:
			out = append(out, o.Text)
		case *widget.Entry:
			out = append(out, o.Text)
		}
	}
	return out
}

// wantTexts fails the test unless every want is among w's texts.
func wantTexts(t *testing.T, w fyne.Window, want ...string) {
	t.Helper()
	got := texts(w)
	for _, s := range want {
		if !slices.Contains(got, s) {
			t.Errorf("window %q does not show %q; it shows %q", w.Title(), s, got)
		}
	}
}

// noTexts fails the test if any of unwanted is among w's texts.
func noTexts(t *testing.T, w fyne.Window, unwanted ...string) {
	t.Helper()
	got := texts(w)
	for _, s := range unwanted {
		if slices.Contains(got, s) {
			t.Errorf("window %q shows %q, want it gone; it shows %q", w.Title(), s, got)
		}
	}
}

// button finds the button labelled text in w.
func button(t *testing.T, w fyne.Window, text string) *widget.Button {
	t.Helper()
	for _, o := range test.LaidOutObjects(w.Content()) {
		if b, ok := o.(*widget.Button); ok && b.Text == text {
			return b
		}
	}
	t.Fatalf("window %q has no button %q; it shows %q", w.Title(), text, texts(w))
	return nil
}
