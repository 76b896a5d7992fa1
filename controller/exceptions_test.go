package controller

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
	"github.com/gatehouse-ztna/gatehouse/controller/policy"
)

// TestExceptionsCreate: a valid exception is stored with the actor and
// time of its creation and reaches the snapshot (the decision allows);
// every invalid one is refused with ErrInvalid or ErrNotFound and
// changes nothing; a helpdesk may not create one.
func TestExceptionsCreate(t *testing.T) {
	c := newCore(t)
	ctx := context.Background()
	if _, _, err := c.Users.Create(ctx, testOwner, api.User{Name: "alice", Groups: []string{"eng"}}); err != nil {
		t.Fatal(err)
	}
	dev := enrollDevice(t, c, "alice")
	if _, _, err := c.Apps.Create(ctx, testOwner, api.App{Name: "grafana", Upstreams: []string{"127.0.0.1:3000"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.PostureProfiles.Create(ctx, testOwner, api.PostureProfile{Name: "fw", Firewall: true}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Policies.Create(ctx, testOwner, api.Policy{Name: "p", Groups: []string{"eng"}, Apps: []string{"grafana"}, PostureProfiles: []string{"fw"}}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	good := api.Exception{Device: dev.ID, Checks: []string{"firewall", "process:/usr/sbin/sshd"}, Owner: "it-sec", Reason: "lab box", ExpiresAt: now.Add(72 * time.Hour)}
	tests := []struct {
		name    string
		change  func(e *api.Exception)
		wantErr error
	}{
		{"both", func(e *api.Exception) { e.User = "alice" }, ErrInvalid},
		{"neither", func(e *api.Exception) { e.Device = "" }, ErrInvalid},
		{"unknown user", func(e *api.Exception) { e.Device, e.User = "", "zed" }, ErrNotFound},
		{"unknown device", func(e *api.Exception) { e.Device = "nope" }, ErrNotFound},
		{"no checks", func(e *api.Exception) { e.Checks = nil }, ErrInvalid},
		{"malformed check", func(e *api.Exception) { e.Checks = []string{"Fire wall"} }, ErrInvalid},
		{"control character", func(e *api.Exception) { e.Checks = []string{"process:/x\x1b[2J"} }, ErrInvalid},
		{"unwaivable check", func(e *api.Exception) { e.Checks = []string{"profile"} }, ErrInvalid},
		{"twice", func(e *api.Exception) { e.Checks = []string{"firewall", "firewall"} }, ErrInvalid},
		{"no owner", func(e *api.Exception) { e.Owner = "  " }, ErrInvalid},
		{"long owner", func(e *api.Exception) { e.Owner = strings.Repeat("o", 65) }, ErrInvalid},
		{"no reason", func(e *api.Exception) { e.Reason = "" }, ErrInvalid},
		{"long reason", func(e *api.Exception) { e.Reason = strings.Repeat("r", 257) }, ErrInvalid},
		{"reason with escape", func(e *api.Exception) { e.Reason = "ok\x1b]0;pwned\x07" }, ErrInvalid},
		{"no expiry", func(e *api.Exception) { e.ExpiresAt = time.Time{} }, ErrInvalid},
		{"past", func(e *api.Exception) { e.ExpiresAt = now.Add(-time.Second) }, ErrInvalid},
		{"over 90 days", func(e *api.Exception) { e.ExpiresAt = now.Add(MaxExceptionTTL + time.Hour) }, ErrInvalid},
		{"bad ID", func(e *api.Exception) { e.ID = "../x" }, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := good
			e.Checks = append([]string(nil), good.Checks...)
			tt.change(&e)
			if _, _, err := c.Exceptions.Create(ctx, testOwner, e); !errors.Is(err, tt.wantErr) {
				t.Errorf("Exceptions.Create(%s) = %v, want %v", tt.name, err, tt.wantErr)
			}
		})
	}
	helpdesk := Actor{Kind: ActorAPIToken, Name: "hd", Role: identity.Helpdesk}
	if _, _, err := c.Exceptions.Create(ctx, helpdesk, good); !errors.Is(err, ErrForbidden) {
		t.Errorf("Exceptions.Create as helpdesk = %v, want ErrForbidden", err)
	}
	if list, err := c.Exceptions.List(ctx, testOwner); err != nil || len(list) != 0 {
		t.Fatalf("Exceptions.List after refusals = %+v, %v; want none", list, err)
	}

	// The decision before and after: alice's device with the firewall off.
	c.mu.Lock()
	c.idents[dev.ID] = &deviceIdent{user: "alice", state: policy.DeviceApproved}
	c.posture[dev.ID] = postureEntry{report: &api.PostureReport{Firewall: api.KnownBool(false)}, at: time.Now()}
	c.mu.Unlock()
	decide := func() api.Decision { return grantPolicy{c}.Decide("alice", dev.ID, "grafana", time.Now()) }
	if d := decide(); d.Allowed {
		t.Fatalf("Decide before the exception = allowed, want denied (firewall off)")
	}
	stored, ch, err := c.Exceptions.Create(ctx, testOwner, good)
	if err != nil {
		t.Fatalf("Exceptions.Create(good) = %v", err)
	}
	if stored.ID == "" || stored.CreatedBy != testOwner.String() || ch.Object != ObjectException || ch.Name != stored.ID {
		t.Errorf("Exceptions.Create(good) = %+v, %v; want an ID, created by %s", stored, ch, testOwner)
	}
	if d := decide(); !d.Allowed {
		t.Errorf("Decide with the exception = %+v, want allowed", d.Reasons)
	}
	named := good
	named.ID = "lab-fw"
	if got, _, err := c.Exceptions.Create(ctx, testOwner, named); err != nil || got.ID != "lab-fw" {
		t.Errorf("Exceptions.Create(ID lab-fw) = %+v, %v; want it kept", got, err)
	}
	if _, _, err := c.Exceptions.Create(ctx, testOwner, named); !errors.Is(err, ErrConflict) {
		t.Errorf("Exceptions.Create(ID lab-fw again) = %v, want ErrConflict", err)
	}
	if _, err := c.Exceptions.Delete(ctx, testOwner, "lab-fw"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exceptions.Delete(ctx, testOwner, stored.ID); err != nil {
		t.Fatalf("Exceptions.Delete = %v", err)
	}
	if d := decide(); d.Allowed {
		t.Errorf("Decide after the exception was deleted = allowed, want denied")
	}
	if _, err := c.Exceptions.Delete(ctx, testOwner, stored.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Exceptions.Delete again = %v, want ErrNotFound", err)
	}
}

// TestExpiryWatch: on a fake clock, the watch re-decides at the next
// expiry (not before), re-arms for the one after, and re-arms when the
// snapshot changes.
func TestExpiryWatch(t *testing.T) {
	start := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	clk := &fakeClock{now: start}
	snap := &policy.Snapshot{Exceptions: []api.Exception{
		{ID: "a", User: "alice", Checks: []string{"firewall"}, ExpiresAt: start.Add(time.Hour)},
		{ID: "b", User: "alice", Checks: []string{"firewall"}, ExpiresAt: start.Add(3 * time.Hour)},
	}}
	snap.Compile()
	var mu sync.Mutex // guards current
	current := snap
	next := func(now time.Time) (time.Time, bool) {
		mu.Lock()
		defer mu.Unlock()
		return current.NextExpiry(now)
	}
	fired := make(chan time.Time, 10)
	w := newExpiryWatch(clk, next, func(context.Context) { fired <- clk.Now() })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.run(ctx) }()
	defer func() { cancel(); <-done }()

	waitArmed := func() {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); clk.waiting() == 0; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the watch set no timer")
			}
		}
	}
	expectFire := func(at time.Time) {
		t.Helper()
		select {
		case got := <-fired:
			if !got.Equal(at) {
				t.Errorf("re-decided at %v, want %v", got, at)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no re-decision at %v", at)
		}
	}
	waitArmed()
	clk.Advance(59 * time.Minute)
	select {
	case at := <-fired:
		t.Fatalf("re-decided at %v, before the first expiry", at)
	case <-time.After(20 * time.Millisecond):
	}
	clk.Advance(time.Minute)
	expectFire(start.Add(time.Hour))

	// A new snapshot with an earlier expiry re-arms the watch.
	waitArmed()
	mu.Lock()
	current = &policy.Snapshot{Exceptions: []api.Exception{{ID: "c", User: "alice", Checks: []string{"firewall"}, ExpiresAt: start.Add(90 * time.Minute)}}}
	current.Compile()
	mu.Unlock()
	w.changed()
	for deadline := time.Now().Add(5 * time.Second); clk.waiting() < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the watch did not re-arm for the new snapshot")
		}
	}
	clk.Advance(30 * time.Minute)
	expectFire(start.Add(90 * time.Minute))
}

// TestExplainErrors: an unknown device or app, or a user who does not own
// the device, is a clear error.
func TestExplainErrors(t *testing.T) {
	c := newCore(t)
	ctx := context.Background()
	for _, u := range []string{"alice", "bob"} {
		if _, _, err := c.Users.Create(ctx, testOwner, api.User{Name: u}); err != nil {
			t.Fatal(err)
		}
	}
	dev := enrollDevice(t, c, "alice")
	if _, _, err := c.Apps.Create(ctx, testOwner, api.App{Name: "grafana", Upstreams: []string{"127.0.0.1:3000"}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, user, device, app string
		wantErr                 error
		wantMsg                 string
	}{
		{"unknown device", "", "nope", "grafana", ErrNotFound, "there is no device nope"},
		{"unknown app", "", dev.ID, "nope", ErrNotFound, "there is no app nope"},
		{"not the owner", "bob", dev.ID, "grafana", ErrInvalid, "belongs to alice, not bob"},
		{"unknown user", "zed", dev.ID, "grafana", ErrNotFound, "there is no user zed"},
		{"no app", "", dev.ID, "", ErrInvalid, "--app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Explain.Explain(ctx, testOwner, tt.user, tt.device, tt.app)
			if !errors.Is(err, tt.wantErr) || !strings.Contains(fmtErr(err), tt.wantMsg) {
				t.Errorf("Explain(%q, %q, %q) = %v, want %v saying %q", tt.user, tt.device, tt.app, err, tt.wantErr, tt.wantMsg)
			}
		})
	}
	ex, err := c.Explain.Explain(ctx, testOwner, "", dev.ID, "grafana")
	if err != nil || ex.User.Name != "alice" || ex.Decision.Allowed || ex.Device.Online || ex.Device.State != policy.DeviceApproved {
		t.Errorf("Explain(offline device) = %+v, %v; want alice's approved, offline device denied", ex, err)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
