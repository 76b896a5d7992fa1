package gui

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/gatehouse-ztna/gatehouse/api"
)

var now = time.Date(2026, 12, 5, 17, 0, 0, 0, time.UTC)

// alice's day: three apps (one blocked by posture, one just in time) and
// three checks.
func aliceState() State {
	return State{
		AgentUp: true, Connected: true,
		SignIn: SignIn{Step: SignedIn, User: "alice"},
		Apps: []App{
			{Name: "grafana", Allowed: true, TunnelUp: true, Addresses: []string{"127.0.0.1:8001"}},
			{Name: "db", Addresses: []string{"127.0.0.1:8002", "127.0.0.1:8003"}, Reasons: []Reason{{Code: api.CodePostureFirewall, Text: "the firewall is off", Fix: "Turn on the firewall: sudo ufw enable"}}},
			{Name: "prod", Access: AccessRequired, Reasons: []Reason{{Code: api.CodeAccessRequired, Text: "prod needs an approved request", Fix: "gatehouse request prod"}}},
		},
		Posture: []Check{
			{Name: "firewall", Status: CheckFail, Fact: "the firewall is off", Fix: "Turn on the firewall: sudo ufw enable"},
			{Name: "disk_encryption", Status: CheckPass, Fact: "disk encryption is on"},
			{Name: "screen_lock", Status: CheckUnknown, Fact: "the state of screen lock is unknown", Fix: "Turn on the screen lock"},
		},
	}
}

func allPassing() State {
	s := aliceState()
	s.Apps[1].Reasons, s.Apps[1].Allowed = nil, true
	s.Apps = s.Apps[:2]
	s.Posture[0] = Check{Name: "firewall", Status: CheckPass, Fact: "the firewall is on"}
	s.Posture = s.Posture[:2]
	return s
}

func newTestTray(t *testing.T) (*Tray, *trayApp, *fakeActions) {
	t.Helper()
	a, acts := newTrayApp(t), &fakeActions{}
	tr := NewTray(context.Background(), a, a, Options{Actions: acts, Now: func() time.Time { return now }})
	return tr, a, acts
}

func TestTrayIconAndMenuFollowState(t *testing.T) {
	tr, a, _ := newTestTray(t)
	tests := []struct {
		name      string
		in        State
		wantIcon  Look
		wantMenu  []string
		wantSignX string
	}{
		{"agent not running", State{}, LookAgentDown,
			[]string{"Gatehouse agent is not running: start it (gatehouse service start)", "Sign in…", "Posture…", "Request access…", "Quit"}, "Sign in…"},
		{"signed out", State{AgentUp: true, Connected: true}, LookSignedOut,
			[]string{"Signed out: choose Sign in", "Sign in…", "Posture…", "Request access…", "Quit"}, "Sign in…"},
		{"some apps blocked by posture", aliceState(), LookBlocked,
			[]string{"alice: 1 of 3 apps blocked by posture (see Posture…)", "✓ grafana  127.0.0.1:8001", "✗ db  blocked: the firewall is off",
				"✗ prod  blocked: prod needs an approved request", "Sign out", "Posture…", "Request access…", "Quit"}, "Sign out"},
		{"connected and all passing", allPassing(), LookOK,
			[]string{"Connected as alice: all checks pass", "✓ grafana  127.0.0.1:8001", "✓ db  127.0.0.1:8002, 127.0.0.1:8003", "Sign out", "Posture…", "Request access…", "Quit"}, "Sign out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr.Update(tt.in)
			if a.icon != Icon(tt.wantIcon) {
				t.Errorf("icon = %s, want %s", a.icon.Name(), Icon(tt.wantIcon).Name())
			}
			if got := a.menuLabels(); !reflect.DeepEqual(got, tt.wantMenu) {
				t.Errorf("menu = %q, want %q", got, tt.wantMenu)
			}
			if !a.menu.Items[0].Disabled {
				t.Error("the status line is clickable, want it disabled")
			}
			signIn := a.item(t, tt.wantSignX)
			if signIn.Disabled != !tt.in.AgentUp {
				t.Errorf("%s disabled = %v with the agent up = %v", tt.wantSignX, signIn.Disabled, tt.in.AgentUp)
			}
			if q := a.item(t, "Quit"); !q.IsQuit {
				t.Error("Quit is not the menu's quit item (fyne would add a second one)")
			}
		})
	}
}

func TestTrayMenuSetOnlyWhenItChanges(t *testing.T) {
	tr, a, _ := newTestTray(t)
	tr.Update(aliceState())
	before := a.menus
	tr.Update(aliceState())
	if a.menus != before {
		t.Errorf("the same State set the menu again (%d → %d): each set rebuilds the host's menu", before, a.menus)
	}
	first := a.menu
	tr.Update(allPassing())
	if a.menus != before+1 {
		t.Errorf("a new State set the menu %d times, want once", a.menus-before)
	}
	if a.menu != first {
		t.Error("a new State gave the tray a new Menu; fyne's Linux tray re-applies the first one it was given, so its items must change in place")
	}
}

func TestTrayMenuCopiesAddresses(t *testing.T) {
	tr, a, acts := newTestTray(t)
	tr.Update(aliceState())
	a.item(t, "✓ grafana").Action()
	db := a.item(t, "✗ db")
	if db.ChildMenu == nil || len(db.ChildMenu.Items) != 2 {
		t.Fatalf("db's two addresses: submenu %v, want two items", db.ChildMenu)
	}
	db.ChildMenu.Items[1].Action()
	if want := []string{"127.0.0.1:8001", "127.0.0.1:8003"}; !reflect.DeepEqual(acts.copied, want) {
		t.Errorf("copied %q, want %q", acts.copied, want)
	}
}

func TestUpdateNotifiesRevokedAndRestored(t *testing.T) {
	tr, a, _ := newTestTray(t)
	tr.Update(allPassing())
	tr.Update(allPassing())
	if len(a.notes) != 0 {
		t.Fatalf("notifications without a change: %v", a.notes)
	}
	tr.Update(aliceState()) // db loses access: the firewall
	tr.Update(aliceState())
	tr.Update(allPassing())
	var got []string
	for _, n := range a.notes {
		got = append(got, n.Content)
	}
	want := []string{"Access to db revoked: the firewall is off (Turn on the firewall: sudo ufw enable)", "Access to db restored"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("notifications = %q, want %q", got, want)
	}
}

func TestPostureWindowShowsEveryCheckAndUpdatesInPlace(t *testing.T) {
	tr, a, _ := newTestTray(t)
	tr.Update(aliceState())
	a.item(t, "Posture…").Action()
	w := tr.posture.win
	wantTexts(t, w,
		"FAIL  firewall", "the firewall is off", "Fix: Turn on the firewall: sudo ufw enable",
		"PASS  disk_encryption", "disk encryption is on",
		"UNKNOWN  screen_lock", "the state of screen lock is unknown", "Fix: Turn on the screen lock")

	tr.Update(allPassing()) // the firewall comes on
	if tr.posture.win != w {
		t.Fatal("the update opened another posture window")
	}
	wantTexts(t, w, "PASS  firewall", "the firewall is on", "Connected as alice: all checks pass")
	noTexts(t, w, "FAIL  firewall", "Fix: Turn on the firewall: sudo ufw enable", "UNKNOWN  screen_lock")

	waived := allPassing()
	waived.Posture[0] = Check{Name: "firewall", Status: CheckWaived, Fact: "the firewall is off", Fix: "Turn on the firewall", WaivedUntil: now.Add(time.Hour)}
	tr.Update(waived)
	wantTexts(t, w, "WAIVED  firewall", "Waived by an exception until "+now.Add(time.Hour).Local().Format("Mon 2 Jan 15:04"))

	tr.Update(State{})
	wantTexts(t, w, "Gatehouse agent is not running: start it (gatehouse service start)")
	noTexts(t, w, "WAIVED  firewall")

	w.Close()
	if tr.posture != nil {
		t.Error("the closed posture window is still drawn")
	}
	a.item(t, "Posture…").Action()
	if tr.posture == nil || tr.posture.win == w {
		t.Error("Posture… after closing did not open a new window")
	}
}

func TestPostureWindowWithoutChecks(t *testing.T) {
	tr, a, _ := newTestTray(t)
	s := allPassing()
	s.Posture = nil
	tr.Update(s)
	a.item(t, "Posture…").Action()
	wantTexts(t, tr.posture.win, "No posture checks apply to you.")
}

func TestAppsWindowShowsStateReasonsAndAccess(t *testing.T) {
	tr, a, _ := newTestTray(t)
	s := aliceState()
	s.Apps = append(s.Apps,
		App{Name: "wiki", Access: AccessPending, Reasons: []Reason{{Code: api.CodeAccessPending, Text: "your request waits for an approver"}}},
		App{Name: "ops", Allowed: true, Access: AccessApproved, Until: now.Add(3 * time.Hour)},
		App{Name: "ci", Allowed: true, Access: AccessApproved, Until: now.Add(10 * time.Minute)},
		App{Name: "hr", Access: AccessDenied, Reasons: []Reason{{Code: api.CodeAccessDenied, Text: "bob denied it: not on call"}}},
		App{Name: "old", Access: AccessExpired, Reasons: []Reason{{Code: api.CodeAccessExpired, Text: "the approved time ran out"}}},
	)
	tr.Update(s)
	a.item(t, "Request access…").Action()
	w := tr.apps.win
	wantTexts(t, w,
		"grafana: allowed, tunnel up", "Address: 127.0.0.1:8001",
		"db: blocked", "Address: 127.0.0.1:8002, 127.0.0.1:8003", "• the firewall is off (Turn on the firewall: sudo ufw enable)",
		"prod: blocked", "Just-in-time access: needs an approved request",
		"wiki: blocked", "Just-in-time access: pending: your request waits for an approver",
		"ops: allowed", "Just-in-time access: approved until "+now.Add(3*time.Hour).Local().Format("15:04 Mon 2 Jan"),
		"Just-in-time access: expiring: approved until "+now.Add(10*time.Minute).Local().Format("15:04 Mon 2 Jan")+" (10m0s left)",
		"Just-in-time access: denied", "• bob denied it: not on call",
		"Just-in-time access: expired: the approved time ran out")
	// A form for prod, ci (expiring), hr and old; none for wiki (pending)
	// nor ops (approved for hours), nor the apps without requests.
	forms := []string{}
	for name := range tr.apps.forms {
		forms = append(forms, name)
	}
	slices.Sort(forms)
	if want := []string{"ci", "hr", "old", "prod"}; !reflect.DeepEqual(forms, want) {
		t.Errorf("request forms for %q, want %q", forms, want)
	}
}

func TestRequestAccessSendsTheFormAndKeepsItAcrossUpdates(t *testing.T) {
	tr, a, acts := newTestTray(t)
	tr.Update(aliceState())
	a.item(t, "Request access…").Action()
	w := tr.apps.win
	f := tr.apps.forms["prod"]
	if f == nil {
		t.Fatal("no request form for prod (just in time, needs a request)")
	}

	// Nothing is sent without a reason, nor with a bad duration.
	test.Tap(f.send)
	test.Type(f.reason, "INC-42 disk full")
	tr.Update(aliceState()) // a State arrives while the user types
	if tr.apps.forms["prod"] != f || f.reason.Text != "INC-42 disk full" {
		t.Fatalf("an update lost the form being filled in: reason %q", tr.apps.forms["prod"].reason.Text)
	}
	f.duration.SetText("soon")
	test.Tap(f.send)
	tr.busy.Wait()
	if len(acts.requests) != 0 {
		t.Fatalf("invalid forms were sent: %v", acts.requests)
	}
	wantTexts(t, w, "Give a duration such as 30m, 2h or 8h (at least 1m).")

	f.duration.SetText("2h")
	test.Tap(f.send)
	tr.busy.Wait()
	if want := []request{{"prod", "INC-42 disk full", 2 * time.Hour}}; !reflect.DeepEqual(acts.requests, want) {
		t.Errorf("RequestAccess calls = %v, want %v", acts.requests, want)
	}
	wantTexts(t, w, "Sent: it waits for an approver; this window shows the answer.")

	// The stream then says pending: the form gives way to the state.
	s := aliceState()
	s.Apps[2].Access, s.Apps[2].Reasons = AccessPending, []Reason{{Code: api.CodeAccessPending, Text: "waits"}}
	tr.Update(s)
	wantTexts(t, w, "Just-in-time access: pending: your request waits for an approver")
	noTexts(t, w, "Request access")

	// Approved: the window says until when.
	s.Apps[2].Allowed, s.Apps[2].Access, s.Apps[2].Until, s.Apps[2].Reasons = true, AccessApproved, now.Add(2*time.Hour), nil
	tr.Update(s)
	wantTexts(t, w, "prod: allowed", "Just-in-time access: approved until "+now.Add(2*time.Hour).Local().Format("15:04 Mon 2 Jan"))
}

func TestRequestAccessRefusedSaysWhy(t *testing.T) {
	tr, a, acts := newTestTray(t)
	acts.err = errors.New("you already have 5 pending requests: wait for an answer")
	tr.Update(aliceState())
	a.item(t, "Request access…").Action()
	f := tr.apps.forms["prod"]
	test.Type(f.reason, "INC-1")
	test.Tap(f.send)
	tr.busy.Wait()
	wantTexts(t, tr.apps.win, "Not sent: you already have 5 pending requests: wait for an answer")
	if f.send.Disabled() {
		t.Error("the Request access button stays disabled after a refusal")
	}
}

func TestSignInShowsCodeOpensBrowserAndFollowsState(t *testing.T) {
	tr, a, acts := newTestTray(t)
	acts.signIn = SignIn{Step: SignInPending, URL: "https://ctl.example/device?code=ABCD-EFGH", Code: "ABCD-EFGH"}
	tr.Update(State{AgentUp: true, Connected: true})
	a.item(t, "Sign in…").Action()
	tr.busy.Wait()
	if want := []string{"https://ctl.example/device?code=ABCD-EFGH"}; !reflect.DeepEqual(acts.opened, want) {
		t.Errorf("opened %q, want %q", acts.opened, want)
	}
	w := tr.signIn.win
	wantTexts(t, w, "ABCD-EFGH", "https://ctl.example/device?code=ABCD-EFGH")
	test.Tap(button(t, w, "Copy code"))
	if !slices.Contains(acts.copied, "ABCD-EFGH") {
		t.Errorf("Copy code copied %q", acts.copied)
	}

	tr.Update(State{AgentUp: true, Connected: true, SignIn: SignIn{Step: SignedIn, User: "alice"}})
	wantTexts(t, w, "Signed in as alice. You can close this window.")
	noTexts(t, w, "ABCD-EFGH")
	if got := a.item(t, "Sign out"); got == nil {
		t.Error("no Sign out once signed in")
	}
	a.item(t, "Sign out").Action()
	tr.busy.Wait()
	if acts.signOuts != 1 {
		t.Errorf("Sign out called SignOut %d times", acts.signOuts)
	}
}

func TestWindowedWithoutTrayHost(t *testing.T) {
	a, acts := newTrayApp(t), &fakeActions{}
	tr := NewWindowed(context.Background(), a, "the desktop runs no StatusNotifierItem tray host", Options{Actions: acts})
	w := tr.main.win
	wantTexts(t, w,
		"No system tray: the desktop runs no StatusNotifierItem tray host. This window stands in for it; closing it quits Gatehouse.",
		"Gatehouse agent is not running: start it (gatehouse service start)", "Sign in…", "Posture…", "Request access…", "Quit")
	if !button(t, w, "Sign in…").Disabled() {
		t.Error("Sign in is enabled with no agent to sign in through")
	}
	if got, want := w.Title(), "Gatehouse: Gatehouse agent is not running: start it (gatehouse service start)"; got != want {
		t.Errorf("title = %q, want %q", got, want)
	}
	tr.Update(aliceState())
	if got, want := w.Title(), "Gatehouse: alice: 1 of 3 apps blocked by posture (see Posture…)"; got != want {
		t.Errorf("title = %q, want %q", got, want)
	}
	wantTexts(t, w, "alice: 1 of 3 apps blocked by posture (see Posture…)", "✓ grafana  127.0.0.1:8001", "Copy 127.0.0.1:8002", "Sign out")
	test.Tap(button(t, w, "Copy 127.0.0.1:8001"))
	if want := []string{"127.0.0.1:8001"}; !reflect.DeepEqual(acts.copied, want) {
		t.Errorf("copied %q, want %q", acts.copied, want)
	}
	test.Tap(button(t, w, "Posture…"))
	if tr.posture == nil {
		t.Error("Posture… opened no window")
	}
	if a.menu != nil || a.icon != nil {
		t.Error("the windowed tray set a system tray icon or menu")
	}
}

// BenchmarkUpdate is the tray's share of a posture flip reaching the
// screen: a new State redrawn into the menu and the open posture and apps
// windows (fyne's test driver lays them out; painting is the driver's).
func BenchmarkUpdate(b *testing.B) {
	a, acts := &trayApp{App: test.NewTempApp(b)}, &fakeActions{}
	tr := NewTray(context.Background(), a, a, Options{Actions: acts, Now: func() time.Time { return now }})
	tr.Update(aliceState())
	tr.showPosture()
	tr.showApps()
	states := []State{aliceState(), allPassing()}
	b.ResetTimer()
	for i := range b.N {
		tr.Update(states[i%2])
	}
}

// TestWindowChildShowsOneWindowAndQuitsWhenItCloses: the process the
// quiet tray starts for a window shows that window with the agent's
// state, follows it, notifies nothing (the tray process does) and quits
// when its last window closes.
func TestWindowChildShowsOneWindowAndQuitsWhenItCloses(t *testing.T) {
	a, acts := newTrayApp(t), &fakeActions{}
	tr := NewWindowChild(context.Background(), a, Options{Actions: acts, Now: func() time.Time { return now }})
	tr.Update(allPassing())
	if err := tr.Open(WindowPosture); err != nil {
		t.Fatalf("Open(%q) = %v", WindowPosture, err)
	}
	if err := tr.Open("settings"); err == nil {
		t.Errorf("Open(%q) = nil, want an error naming the windows", "settings")
	}
	w := tr.posture.win
	tr.Update(aliceState())
	wantTexts(t, w, "alice: 1 of 3 apps blocked by posture (see Posture…)")
	if len(a.notes) != 0 || a.menu != nil || a.icon != nil {
		t.Errorf("a window child notified (%d) or set a tray icon or menu", len(a.notes))
	}
	if err := tr.Open(WindowApps); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if a.quits != 0 {
		t.Error("the child quit with its apps window still open")
	}
	tr.apps.win.Close()
	if a.quits != 1 {
		t.Errorf("closing the last window quit the app %d times, want 1", a.quits)
	}
}

// TestTrayDoesNotQuitWhenAWindowCloses: in the tray itself, closing
// the posture window leaves the tray running.
func TestTrayDoesNotQuitWhenAWindowCloses(t *testing.T) {
	tr, a, _ := newTestTray(t)
	tr.Update(aliceState())
	a.item(t, "Posture…").Action()
	tr.posture.win.Close()
	if a.quits != 0 {
		t.Errorf("closing the tray's posture window quit the app")
	}
}

// TestWindowChildSignIn: the sign-in child starts the sign-in itself
// (the browser opens on the page), shows the code, and quits when the
// window closes; a sign-in that fails shows why, and closing that quits.
func TestWindowChildSignIn(t *testing.T) {
	a, acts := newTrayApp(t), &fakeActions{}
	acts.signIn = SignIn{Step: SignInPending, URL: "https://ctl.example/device?code=ABCD-EFGH", Code: "ABCD-EFGH"}
	tr := NewWindowChild(context.Background(), a, Options{Actions: acts})
	tr.Update(State{AgentUp: true, Connected: true})
	if err := tr.Open(WindowSignIn); err != nil {
		t.Fatal(err)
	}
	tr.busy.Wait()
	if want := []string{"https://ctl.example/device?code=ABCD-EFGH"}; !reflect.DeepEqual(acts.opened, want) {
		t.Errorf("opened %q, want %q", acts.opened, want)
	}
	wantTexts(t, tr.signIn.win, "ABCD-EFGH")
	tr.signIn.win.Close()
	if a.quits != 1 {
		t.Errorf("closing the sign-in window quit %d times, want 1", a.quits)
	}

	a, acts = newTrayApp(t), &fakeActions{err: errors.New("could not start the sign-in: the agent is not running")}
	tr = NewWindowChild(context.Background(), a, Options{Actions: acts})
	tr.Update(State{AgentUp: true, Connected: true})
	if err := tr.Open(WindowSignIn); err != nil {
		t.Fatal(err)
	}
	tr.busy.Wait()
	if tr.signIn != nil {
		t.Error("a failed sign-in opened the code window")
	}
	var errWin fyne.Window
	for _, w := range a.Driver().AllWindows() {
		if w.Title() == "Gatehouse: Could not sign in" {
			errWin = w
		}
	}
	if errWin == nil {
		t.Fatal("a failed sign-in showed no error window")
	}
	wantTexts(t, errWin, "could not start the sign-in: the agent is not running")
	errWin.Close()
	if a.quits != 1 {
		t.Errorf("closing the error window quit %d times, want 1", a.quits)
	}
}
