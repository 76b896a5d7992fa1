package gui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// Each window keeps its widgets and redraws them from Tray.state in place
// (draw); closing it forgets it, and the menu opens a new one.

// mainWindow stands in for the tray where the desktop has none: the
// status line, why there is no tray, the apps with their addresses, and
// the menu's actions as buttons.
type mainWindow struct {
	t    *Tray
	win  fyne.Window
	body *fyne.Container
}

func newMainWindow(t *Tray, why string) *mainWindow {
	m := &mainWindow{t: t, win: t.app.NewWindow("Gatehouse"), body: container.NewVBox()}
	whyLabel := widget.NewLabel("No system tray: " + why + ". This window stands in for it; closing it quits Gatehouse.")
	whyLabel.Wrapping = fyne.TextWrapWord
	m.win.SetContent(container.NewVScroll(container.NewVBox(whyLabel, widget.NewSeparator(), m.body)))
	m.win.Resize(fyne.NewSize(520, 420))
	m.win.SetMaster()
	m.draw()
	return m
}

func (m *mainWindow) draw() {
	t, s := m.t, m.t.state
	// The title carries the status too: it is what a taskbar shows.
	m.win.SetTitle("Gatehouse: " + s.StatusLine())
	objs := []fyne.CanvasObject{boldLabel(s.StatusLine())}
	for _, a := range s.Apps {
		// The line takes the width the copy buttons leave: a wrapping
		// label in an HBox would get one character's.
		copies := container.NewHBox()
		for _, addr := range a.Addresses {
			copies.Add(widget.NewButton("Copy "+addr, func() { t.actions.Copy(addr) }))
		}
		objs = append(objs, container.NewBorder(nil, nil, nil, copies, wrapLabel(appLine(a))))
	}
	signInOut := widget.NewButton("Sign in…", t.startSignIn)
	if s.SignIn.Step == SignedIn {
		signInOut = widget.NewButton("Sign out", t.signOut)
	}
	if !s.AgentUp {
		signInOut.Disable()
	}
	objs = append(objs, widget.NewSeparator(), container.NewHBox(signInOut,
		widget.NewButton("Posture…", t.showPosture),
		widget.NewButton("Request access…", t.showApps),
		widget.NewButton("Quit", t.app.Quit)))
	m.body.Objects = objs
	m.body.Refresh()
}

// postureWindow lists every posture check: pass, fail, unknown or waived,
// the fact behind it, and the fix.
type postureWindow struct {
	t    *Tray
	win  fyne.Window
	body *fyne.Container
}

func (t *Tray) showPosture() {
	if t.posture == nil {
		p := &postureWindow{t: t}
		p.win, p.body = t.scrollWindow("Gatehouse: posture", fyne.NewSize(520, 420), func() { t.posture = nil })
		t.posture = p
		p.draw()
	}
	raise(t.posture.win)
}

// scrollWindow makes a window around a scrolling body; onClosed runs when
// the user closes it.
func (t *Tray) scrollWindow(title string, size fyne.Size, onClosed func()) (fyne.Window, *fyne.Container) {
	w, body := t.newWindow(title, onClosed), container.NewVBox()
	w.SetContent(container.NewVScroll(body))
	w.Resize(size)
	return w, body
}

// raise shows w in front.
func raise(w fyne.Window) {
	w.Show()
	w.RequestFocus()
}

func (p *postureWindow) draw() {
	s := p.t.state
	objs := []fyne.CanvasObject{boldLabel(s.StatusLine())}
	if s.AgentUp && len(s.Posture) == 0 {
		objs = append(objs, wrapLabel("No posture checks apply to you."))
	}
	for _, c := range s.Posture {
		objs = append(objs, widget.NewSeparator(), boldLabel(strings.ToUpper(c.Status.String())+"  "+c.Name), wrapLabel(c.Fact))
		if c.Status == CheckWaived {
			objs = append(objs, wrapLabel("Waived by an exception until "+c.WaivedUntil.Local().Format("Mon 2 Jan 15:04")))
		}
		if c.Fix != "" {
			objs = append(objs, wrapLabel("Fix: "+c.Fix))
		}
	}
	p.body.Objects = objs
	p.body.Refresh()
}

// appsWindow lists every app the user may ask for, its state and why; a
// just-in-time app has a request form (reason, duration). The forms are
// kept across redraws so a State arriving while the user types loses
// nothing.
type appsWindow struct {
	t     *Tray
	win   fyne.Window
	body  *fyne.Container
	forms map[string]*requestForm
}

// requestForm asks for just-in-time access to one app.
type requestForm struct {
	reason   *widget.Entry
	duration *widget.Entry
	send     *widget.Button
	result   *widget.Label
	box      *fyne.Container
}

func (t *Tray) showApps() {
	if t.apps == nil {
		a := &appsWindow{t: t, forms: map[string]*requestForm{}}
		a.win, a.body = t.scrollWindow("Gatehouse: apps and access", fyne.NewSize(560, 480), func() { t.apps = nil })
		t.apps = a
		a.draw()
	}
	raise(t.apps.win)
}

func (w *appsWindow) draw() {
	s, now := w.t.state, w.t.now()
	objs := []fyne.CanvasObject{boldLabel(s.StatusLine())}
	if s.AgentUp && len(s.Apps) == 0 {
		objs = append(objs, wrapLabel("No apps are offered to you."))
	}
	for _, a := range s.Apps {
		objs = append(objs, widget.NewSeparator(), boldLabel(a.Name+": "+appState(a)))
		if len(a.Addresses) > 0 {
			objs = append(objs, wrapLabel("Address: "+strings.Join(a.Addresses, ", ")))
		}
		for _, r := range a.Reasons {
			objs = append(objs, wrapLabel("• "+reasonText(r)))
		}
		if !a.JustInTime() {
			continue
		}
		objs = append(objs, wrapLabel("Just-in-time access: "+accessText(a, now)))
		if askable(a, now) {
			objs = append(objs, w.form(a.Name).box)
		}
	}
	w.body.Objects = objs
	w.body.Refresh()
}

// appState is "allowed, tunnel up", "allowed" or "blocked".
func appState(a App) string {
	switch {
	case a.Allowed && a.TunnelUp:
		return "allowed, tunnel up"
	case a.Allowed:
		return "allowed"
	}
	return "blocked"
}

// accessText says where an app's just-in-time access stands.
func accessText(a App, now time.Time) string {
	switch a.Access {
	case AccessRequired:
		return "needs an approved request"
	case AccessPending:
		return "pending: your request waits for an approver"
	case AccessApproved:
		until := a.Until.Local().Format("15:04 Mon 2 Jan")
		if a.Expiring(now) {
			return fmt.Sprintf("expiring: approved until %s (%s left)", until, a.Until.Sub(now).Round(time.Minute))
		}
		return "approved until " + until
	case AccessDenied:
		return "denied"
	case AccessExpired:
		return "expired: the approved time ran out"
	}
	return "not needed"
}

// askable: a request makes sense unless one is pending or approved access
// is far from its end.
func askable(a App, now time.Time) bool {
	switch a.Access {
	case AccessPending:
		return false
	case AccessApproved:
		return a.Expiring(now)
	}
	return true
}

func (w *appsWindow) form(app string) *requestForm {
	if f, ok := w.forms[app]; ok {
		return f
	}
	f := &requestForm{reason: widget.NewEntry(), duration: widget.NewEntry(), result: wrapLabel("")}
	f.reason.SetPlaceHolder("why you need it (e.g. INC-42)")
	f.duration.SetText("1h")
	f.send = widget.NewButton("Request access", func() { w.request(app, f) })
	f.box = container.NewVBox(
		widget.NewForm(widget.NewFormItem("Reason", f.reason), widget.NewFormItem("For", f.duration)),
		f.send, f.result)
	w.forms[app] = f
	return f
}

// request checks the form, then sends it off the UI goroutine.
func (w *appsWindow) request(app string, f *requestForm) {
	reason := strings.TrimSpace(f.reason.Text)
	d, err := time.ParseDuration(strings.TrimSpace(f.duration.Text))
	switch {
	case reason == "":
		f.result.SetText("Say why you need access (an approver reads it).")
		return
	case err != nil || d < time.Minute:
		f.result.SetText("Give a duration such as 30m, 2h or 8h (at least 1m).")
		return
	}
	f.send.Disable()
	f.result.SetText("Sending…")
	w.t.background(func(ctx context.Context) error {
		return w.t.actions.RequestAccess(ctx, app, reason, d)
	}, func(err error) {
		f.send.Enable()
		if err != nil {
			f.result.SetText("Not sent: " + err.Error())
			return
		}
		f.result.SetText("Sent: it waits for an approver; this window shows the answer.")
	})
}

// signInWindow shows the sign-in code and the page to enter it on, until
// the user is signed in.
type signInWindow struct {
	t    *Tray
	win  fyne.Window
	body *fyne.Container
	note *widget.Label
}

func (t *Tray) showSignIn() {
	if t.signIn == nil {
		w := &signInWindow{t: t, win: t.newWindow("Gatehouse: sign in", func() { t.signIn = nil }), body: container.NewVBox(), note: wrapLabel("")}
		w.win.SetContent(container.NewVBox(w.body, w.note))
		w.win.Resize(fyne.NewSize(460, 240))
		t.signIn = w
	}
	t.signIn.draw()
	raise(t.signIn.win)
}

func (w *signInWindow) draw() {
	t := w.t
	s := t.state.SignIn
	if s.Step == SignedOut && t.started.Step == SignInPending {
		s = t.started // the stream has not caught up with the action yet
	}
	var objs []fyne.CanvasObject
	switch s.Step {
	case SignedIn:
		objs = []fyne.CanvasObject{boldLabel("Signed in as " + s.User + ". You can close this window.")}
	case SignInPending:
		code := widget.NewLabelWithStyle(s.Code, fyne.TextAlignCenter, fyne.TextStyle{Monospace: true})
		code.SizeName = theme.SizeNameHeadingText
		url := s.URL
		objs = []fyne.CanvasObject{
			wrapLabel("Your browser opens the sign-in page. Enter this code there:"),
			code,
			wrapLabel(url),
			container.NewHBox(
				widget.NewButton("Open the page again", func() { _ = t.actions.OpenURL(url) }),
				widget.NewButton("Copy code", func() { t.actions.Copy(s.Code) })),
		}
	default:
		text := "Signed out."
		if s.Ended != "" {
			text = "Signed out: " + s.Ended
		}
		objs = []fyne.CanvasObject{wrapLabel(text), widget.NewButton("Sign in again", t.startSignIn)}
	}
	w.body.Objects = objs
	w.body.Refresh()
}

func wrapLabel(text string) *widget.Label {
	l := widget.NewLabel(text)
	l.Wrapping = fyne.TextWrapWord
	return l
}

func boldLabel(text string) *widget.Label {
	l := widget.NewLabelWithStyle(text, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	l.Wrapping = fyne.TextWrapWord
	return l
}
