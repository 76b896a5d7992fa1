package sni

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/gui"
	"github.com/gatehouse-ztna/gatehouse/internal/desktoptest"
)

func alice(firewall bool) gui.State {
	s := gui.State{AgentUp: true, Connected: true, SignIn: gui.SignIn{Step: gui.SignedIn, User: "alice"},
		Apps: []gui.App{
			{Name: "grafana", Allowed: true, Addresses: []string{"127.0.0.1:8001"}},
			{Name: "db", Allowed: true, Addresses: []string{"127.0.0.1:8002"}},
		},
		Posture: []gui.Check{{Name: "firewall", Status: gui.CheckPass, Fact: "the firewall is on"}},
	}
	if !firewall {
		s.Apps[1].Allowed = false
		s.Apps[1].Reasons = []gui.Reason{{Code: api.CodePostureFirewall, Text: "the firewall is off", Fix: "Turn on the firewall"}}
		s.Posture[0] = gui.Check{Name: "firewall", Status: gui.CheckFail, Fact: "the firewall is off"}
	}
	return s
}

// recorder is the Handlers, recording what the menu asked for.
type recorder struct {
	mu     sync.Mutex // guards the fields below
	opened []gui.Window
	copied []string
}

func (r *recorder) handlers() Handlers {
	return Handlers{
		Open: func(w gui.Window) { r.mu.Lock(); r.opened = append(r.opened, w); r.mu.Unlock() },
		SignOut: func() error {
			return errors.New("could not sign out: the agent did not answer")
		},
		Copy: func(text string) error { r.mu.Lock(); r.copied = append(r.copied, text); r.mu.Unlock(); return nil },
	}
}

func (r *recorder) saw(w gui.Window, copied string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.opened, w) || slices.Contains(r.copied, copied)
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	end := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(end) {
			t.Fatalf("no %s within 10 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRunDrawsTheStateOnTheSessionBus runs the quiet tray against a tray
// host and a notification daemon on a session bus of the test's own, and
// reads it as a panel does: the item registers, its menu and icon follow
// each State, exactly one notification goes out per change (none for an
// unchanged State), clicks reach the handlers (a failed sign-out is said
// in a notification), and Quit ends Run.
func TestRunDrawsTheStateOnTheSessionBus(t *testing.T) {
	d := desktoptest.BusOnly(t)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", d.Bus) // before anything dials the session bus
	host, notes := d.TrayHost(t), d.Notifications(t)
	source, rec := make(chan gui.State), &recorder{}
	ran := make(chan error, 1)
	go func() { ran <- Run(context.Background(), source, rec.handlers()) }()

	menuHas := func(label string) func() bool {
		return func() bool { return host.Item() != "" && slices.Contains(host.MenuLabels(host.Item()), label) }
	}
	eventually(t, "registered item saying the agent is not running", menuHas("Gatehouse agent is not running: start it (gatehouse service start)"))

	steps := []struct {
		in        gui.State
		status    string
		wantNotes int
	}{
		{alice(true), "Connected as alice: all checks pass", 0},
		{alice(false), "alice: 1 of 2 apps blocked by posture (see Posture…)", 1},
		{alice(false), "alice: 1 of 2 apps blocked by posture (see Posture…)", 1},
		{alice(true), "Connected as alice: all checks pass", 2},
		{alice(false), "alice: 1 of 2 apps blocked by posture (see Posture…)", 3},
	}
	for i, s := range steps {
		source <- s.in
		eventually(t, "menu saying "+s.status, menuHas(s.status))
		source <- s.in // Run has taken the step once this is taken: its notifications are out
		if got := len(notes.Notes()); got != s.wantNotes {
			t.Errorf("after step %d (%s): %d notifications, want %d: %+v", i, s.status, got, s.wantNotes, notes.Notes())
		}
	}
	if got := notes.Notes(); len(got) >= 2 && (!strings.Contains(got[0].Body, "db revoked: the firewall is off") || got[1].Summary != "Access to db restored") {
		t.Errorf("notifications %+v, want db revoked (the firewall), then restored", got)
	}
	labels := host.MenuLabels(host.Item())
	for _, want := range []string{"✓ grafana  127.0.0.1:8001", "✗ db  blocked: the firewall is off", "Sign out", "Posture…", "Request access…", "Quit"} {
		if !slices.Contains(labels, want) {
			t.Errorf("menu %q lacks %q", labels, want)
		}
	}
	w, h, px, err := host.IconPixmap(host.Item())
	if err != nil {
		t.Fatal(err)
	}
	if at := 4 * (h/2*w + w/6); len(px) < at+4 || !bytes.Equal(px[at:at+4], []byte{0xff, 0xe0, 0x9b, 0x12}) {
		t.Errorf("the icon (%dx%d) is not the amber blocked look", w, h)
	}

	for _, click := range []struct {
		label  string
		window gui.Window
		copied string
	}{
		{"Posture…", gui.WindowPosture, ""},
		{"Request access…", gui.WindowApps, ""},
		{"✓ grafana  127.0.0.1:8001", "", "127.0.0.1:8001"},
	} {
		if err := host.Click(host.Item(), click.label); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the handler of "+click.label, func() bool { return rec.saw(click.window, click.copied) })
	}
	if err := host.Click(host.Item(), "Sign out"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a notification of the failed sign-out", func() bool {
		n := notes.Notes()
		return len(n) > 0 && n[len(n)-1].Summary == "Sign-out failed" && strings.Contains(n[len(n)-1].Body, "did not answer")
	})

	if err := host.Click(host.Item(), "Quit"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ran:
		if err != nil {
			t.Errorf("Run after Quit = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10 s of Quit")
	}
}
