package controller

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/grants"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
	"github.com/gatehouse-ztna/gatehouse/controller/policy"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// timerClock is a grants.Clock that moves only when the test advances it;
// AfterFunc callbacks run inside Advance.
type timerClock struct {
	mu     sync.Mutex // guards now and timers
	now    time.Time
	timers []*clockTimer
}

type clockTimer struct {
	at      time.Time
	f       func()
	stopped bool // under timerClock.mu
	c       *timerClock
}

func (t *clockTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

func (c *timerClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *timerClock) AfterFunc(d time.Duration, f func()) grants.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &clockTimer{at: c.now.Add(d), f: f, c: c}
	c.timers = append(c.timers, t)
	return t
}

func (c *timerClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*clockTimer
	for _, t := range c.timers {
		if !t.stopped && !t.at.After(c.now) {
			t.stopped = true
			due = append(due, t)
		}
	}
	c.mu.Unlock()
	for _, t := range due {
		t.f()
	}
}

// testDirectory is a policy as Requests reads it: alice and erin are in
// eng, whose policy gives db (and db2…db6) with approval by dba; bob and
// dave are in dba; carol is in neither; wiki needs no approval.
type testDirectory struct{ snap *policy.Snapshot }

func newTestDirectory() testDirectory {
	s := &policy.Snapshot{Users: map[string]api.User{
		"alice": {Name: "alice", Groups: []string{"eng"}}, "erin": {Name: "erin", Groups: []string{"eng", "dba"}},
		"bob": {Name: "bob", Groups: []string{"dba"}}, "dave": {Name: "dave", Groups: []string{"dba"}}, "carol": {Name: "carol"},
	}, Apps: map[string]api.App{"wiki": {Name: "wiki"}}}
	jit := api.Policy{Name: "db-jit", Groups: []string{"eng"}, Approvers: "dba", MaxAccess: api.Duration(4 * time.Hour)}
	for _, a := range []string{"db", "db2", "db3", "db4", "db5", "db6"} {
		s.Apps[a] = api.App{Name: a}
		jit.Apps = append(jit.Apps, a)
	}
	s.Policies = []api.Policy{jit, {Name: "wiki", Groups: []string{"eng"}, Apps: []string{"wiki"}}}
	return testDirectory{s}
}

func (d testDirectory) ApprovalPolicy(user, app string) (api.Policy, bool) {
	return d.snap.ApprovalPolicy(user, app)
}
func (d testDirectory) AppExists(app string) bool { _, ok := d.snap.Apps[app]; return ok }
func (d testDirectory) InGroup(user, group string) bool {
	return slices.Contains(d.snap.Users[user].Groups, group)
}

type requestsRig struct {
	r       *Requests
	st      *store.SQLite
	clock   *timerClock
	mu      sync.Mutex // guards changed
	changed []string
}

func newRequestsRig(t *testing.T) *requestsRig {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	g := &requestsRig{st: st, clock: &timerClock{now: time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)}}
	g.r = newRequests(st, g.clock, newTestDirectory(), func(_ context.Context, user string) {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.changed = append(g.changed, user)
	}, func(context.Context, Change) error { return nil }, slog.New(slog.DiscardHandler), api.MinAccess)
	t.Cleanup(g.r.close)
	return g
}

func (g *requestsRig) ask(t *testing.T, user, app string, d time.Duration) api.AccessRequest {
	t.Helper()
	req, err := g.r.Request(context.Background(), Requester{User: user, Device: "dev-" + user}, api.AccessRequestInput{App: app, Reason: "incident 42", For: api.Duration(d)})
	if err != nil {
		t.Fatalf("Request(%s, %s) = %v", user, app, err)
	}
	return req
}

func (g *requestsRig) stored(t *testing.T, id string) api.AccessRequest {
	t.Helper()
	r, err := g.st.GetAccessRequest(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var (
	bobActor   = Actor{Kind: ActorUser, Name: "bob", Role: identity.Auditor}
	daveActor  = Actor{Kind: ActorUser, Name: "dave", Role: identity.Auditor}
	aliceActor = Actor{Kind: ActorUser, Name: "alice", Role: identity.Owner}
	carolActor = Actor{Kind: ActorUser, Name: "carol", Role: identity.Owner}
)

// TestRequestRefusals: a request names an existing app that a policy
// gives the user only with approval, says why in plain bounded text, and
// asks for between the minimum and the policy's MaxAccess; a bad one
// stores nothing.
func TestRequestRefusals(t *testing.T) {
	g := newRequestsRig(t)
	tests := []struct {
		name    string
		user    string
		in      api.AccessRequestInput
		wantErr error
		wantMsg string
	}{
		{name: "no app", user: "alice", in: api.AccessRequestInput{Reason: "x", For: api.Duration(time.Hour)}, wantErr: ErrInvalid},
		{name: "unknown app", user: "alice", in: api.AccessRequestInput{App: "nope", Reason: "x", For: api.Duration(time.Hour)}, wantErr: ErrNotFound},
		{name: "needs no approval", user: "alice", in: api.AccessRequestInput{App: "wiki", Reason: "x", For: api.Duration(time.Hour)}, wantErr: ErrInvalid, wantMsg: "needs no request"},
		{name: "not in any policy", user: "carol", in: api.AccessRequestInput{App: "db", Reason: "x", For: api.Duration(time.Hour)}, wantErr: ErrInvalid},
		{name: "no reason", user: "alice", in: api.AccessRequestInput{App: "db", For: api.Duration(time.Hour)}, wantErr: ErrInvalid, wantMsg: "reason is required"},
		{name: "escape in reason", user: "alice", in: api.AccessRequestInput{App: "db", Reason: "ok\x1b[2J", For: api.Duration(time.Hour)}, wantErr: ErrInvalid, wantMsg: "control character"},
		{name: "bidi override in reason", user: "alice", in: api.AccessRequestInput{App: "db", Reason: "ok\u202e", For: api.Duration(time.Hour)}, wantErr: ErrInvalid, wantMsg: "control character"},
		{name: "reason too long", user: "alice", in: api.AccessRequestInput{App: "db", Reason: strings.Repeat("a", api.MaxRequestReason+1), For: api.Duration(time.Hour)}, wantErr: ErrInvalid},
		{name: "longer than the policy allows", user: "alice", in: api.AccessRequestInput{App: "db", Reason: "x", For: api.Duration(5 * time.Hour)}, wantErr: ErrInvalid, wantMsg: "4h0m0s"},
		{name: "too short", user: "alice", in: api.AccessRequestInput{App: "db", Reason: "x", For: api.Duration(time.Second)}, wantErr: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := g.r.Request(context.Background(), Requester{User: tt.user, Device: "d"}, tt.in)
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Request(%+v) = %v, want %v saying %q", tt.in, err, tt.wantErr, tt.wantMsg)
			}
		})
	}
	if rs, _ := g.st.ListAccessRequests(context.Background(), ""); len(rs) != 0 {
		t.Errorf("stored %d requests after refusals, want none", len(rs))
	}
}

// TestRequestLifecycle: pending → approved (shorter than asked) →
// expired at the approved end on the clock, recorded; the user's access
// follows each step and each step re-decides their devices.
func TestRequestLifecycle(t *testing.T) {
	g := newRequestsRig(t)
	ctx := context.Background()
	req := g.ask(t, "alice", "db", 2*time.Hour)
	if req.State != api.RequestPending || req.Approvers != "dba" || req.Policy != "db-jit" {
		t.Fatalf("Request = %+v, want pending under db-jit, approvers dba", req)
	}
	if a := g.r.Access("alice")["db"]; !a.Pending || !a.Until.IsZero() {
		t.Errorf("Access while pending = %+v, want pending only", a)
	}
	if _, err := g.r.Request(ctx, Requester{User: "alice", Device: "d"}, api.AccessRequestInput{App: "db", Reason: "again", For: api.Duration(time.Hour)}); !errors.Is(err, ErrConflict) {
		t.Errorf("second Request for db = %v, want ErrConflict", err)
	}
	if _, _, err := g.r.Approve(ctx, bobActor, req.ID, api.AccessDecisionInput{For: api.Duration(3 * time.Hour)}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Approve for longer than asked = %v, want ErrInvalid", err)
	}
	g.clock.Advance(10 * time.Minute)
	approved, ch, err := g.r.Approve(ctx, bobActor, req.ID, api.AccessDecisionInput{For: api.Duration(time.Hour), Note: "ok for the incident"})
	if err != nil || approved.State != api.RequestApproved || ch.Kind != Approved || ch.By != bobActor {
		t.Fatalf("Approve = %+v %v %v, want approved by bob", approved, ch, err)
	}
	end := g.clock.Now().Add(time.Hour)
	if s := g.stored(t, req.ID); s.State != api.RequestApproved || s.DecidedBy != "user:bob" || !s.ExpiresAt.Equal(end) ||
		time.Duration(s.Granted) != time.Hour || s.Note != "ok for the incident" {
		t.Errorf("stored after approval = %+v, want approved by user:bob for 1h until %v", s, end)
	}
	if a := g.r.Access("alice")["db"]; a.Pending || !a.Until.Equal(end) {
		t.Errorf("Access after approval = %+v, want until %v", a, end)
	}
	for _, op := range []func() error{
		func() error { _, _, err := g.r.Approve(ctx, daveActor, req.ID, api.AccessDecisionInput{}); return err },
		func() error {
			_, _, err := g.r.Deny(ctx, daveActor, req.ID, api.AccessDecisionInput{Note: "no"})
			return err
		},
	} {
		if err := op(); !errors.Is(err, ErrConflict) {
			t.Errorf("deciding an approved request = %v, want ErrConflict", err)
		}
	}
	g.clock.Advance(time.Hour - time.Second)
	if s := g.stored(t, req.ID); s.State != api.RequestApproved {
		t.Fatalf("a second before the end: %s, want approved", s.State)
	}
	g.clock.Advance(time.Second)
	s := g.stored(t, req.ID)
	if s.State != api.RequestExpired || !s.EndedAt.Equal(end) {
		t.Fatalf("at the end: %+v, want expired, ended at %v", s, end)
	}
	if a := g.r.Access("alice")["db"]; a.Pending || !a.Until.Equal(end) || a.Until.After(g.clock.Now()) {
		t.Errorf("Access after expiry = %+v, want the past end %v (the denial says when)", a, end)
	}
	g.mu.Lock()
	changed := slices.Clone(g.changed)
	g.mu.Unlock()
	if want := []string{"alice", "alice", "alice"}; !slices.Equal(changed, want) {
		t.Errorf("re-decided users = %q, want alice at request, approval and expiry", changed)
	}
	g.clock.Advance(endedMemory + time.Second)
	if a := g.r.Access("alice"); len(a) != 0 {
		t.Errorf("Access a day after expiry = %+v, want none remembered", a)
	}
	// Expired is final: nothing decides it again.
	if _, _, err := g.r.Approve(ctx, bobActor, req.ID, api.AccessDecisionInput{}); !errors.Is(err, ErrConflict) {
		t.Errorf("Approve after expiry = %v, want ErrConflict", err)
	}
}

// TestRequestDeciders: only a signed-in member of the approvers group
// may decide, never the requester (even one who is an approver and an
// owner), and never with an API token; a denial needs a note; a pending
// request lapses after RequestPendingTTL and then cannot be approved.
func TestRequestDeciders(t *testing.T) {
	g := newRequestsRig(t)
	ctx := context.Background()
	req := g.ask(t, "erin", "db", time.Hour) // erin is in dba herself
	refused := map[string]Actor{
		"self-approval":        {Kind: ActorUser, Name: "erin", Role: identity.Owner},
		"not an approver":      carolActor,
		"requester's namesake": aliceActor,
		"owner API token":      testOwner,
		"API token named bob":  {Kind: ActorAPIToken, Name: "bob", Role: identity.Owner},
		"bootstrap":            BootstrapActor,
		"nobody":               {},
	}
	for name, who := range refused {
		if _, _, err := g.r.Approve(ctx, who, req.ID, api.AccessDecisionInput{}); !errors.Is(err, ErrForbidden) {
			t.Errorf("%s: Approve = %v, want ErrForbidden", name, err)
		}
		if _, _, err := g.r.Deny(ctx, who, req.ID, api.AccessDecisionInput{Note: "no"}); !errors.Is(err, ErrForbidden) {
			t.Errorf("%s: Deny = %v, want ErrForbidden", name, err)
		}
	}
	if s := g.stored(t, req.ID); s.State != api.RequestPending {
		t.Fatalf("after refused deciders: %s, want pending", s.State)
	}
	if _, _, err := g.r.Deny(ctx, bobActor, req.ID, api.AccessDecisionInput{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Deny without a note = %v, want ErrInvalid", err)
	}
	denied, _, err := g.r.Deny(ctx, bobActor, req.ID, api.AccessDecisionInput{Note: "use the replica"})
	if err != nil || denied.State != api.RequestDenied {
		t.Fatalf("Deny = %+v %v", denied, err)
	}
	if a := g.r.Access("erin")["db"]; a.Pending || !a.Until.IsZero() || a.Denied != "denied by user:bob: use the replica" {
		t.Errorf("Access after denial = %+v, want the denial, by whom and why", a)
	}
	if _, _, err := g.r.Approve(ctx, daveActor, req.ID, api.AccessDecisionInput{}); !errors.Is(err, ErrConflict) {
		t.Errorf("Approve after denial = %v, want ErrConflict", err)
	}

	lapsing := g.ask(t, "alice", "db2", time.Hour)
	g.clock.Advance(api.RequestPendingTTL)
	if s := g.stored(t, lapsing.ID); s.State != api.RequestExpired || !strings.Contains(s.Note, "nobody decided") {
		t.Errorf("after %s pending: %+v, want expired, nobody decided", api.RequestPendingTTL, s)
	}
	if _, _, err := g.r.Approve(ctx, bobActor, lapsing.ID, api.AccessDecisionInput{}); !errors.Is(err, ErrConflict) {
		t.Errorf("Approve a lapsed request = %v, want ErrConflict", err)
	}
	if a := g.r.Access("alice")["db2"]; a.Pending || !a.Until.IsZero() {
		t.Errorf("Access after a lapse = %+v, want none", a)
	}
}

// TestRequestRaceOneDecision: an approval and a denial racing on one
// request leave exactly one decision, in the store and in memory.
func TestRequestRaceOneDecision(t *testing.T) {
	g := newRequestsRig(t)
	ctx := context.Background()
	for range 20 {
		req := g.ask(t, "alice", "db", time.Hour)
		var wg sync.WaitGroup
		var approveErr, denyErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, _, approveErr = g.r.Approve(ctx, bobActor, req.ID, api.AccessDecisionInput{})
		}()
		go func() {
			defer wg.Done()
			_, _, denyErr = g.r.Deny(ctx, daveActor, req.ID, api.AccessDecisionInput{Note: "no"})
		}()
		wg.Wait()
		if (approveErr == nil) == (denyErr == nil) {
			t.Fatalf("approve = %v, deny = %v: want exactly one to win", approveErr, denyErr)
		}
		loser := approveErr
		if loser == nil {
			loser = denyErr
		}
		if !errors.Is(loser, ErrConflict) {
			t.Errorf("the loser's error = %v, want ErrConflict", loser)
		}
		s := g.stored(t, req.ID)
		won := api.RequestApproved
		if approveErr != nil {
			won = api.RequestDenied
		}
		if s.State != won {
			t.Fatalf("stored state = %s, want the winner's %s", s.State, won)
		}
		if a := g.r.Access("alice")["db"]; (won == api.RequestApproved) != a.Until.After(g.clock.Now()) {
			t.Fatalf("Access = %+v after %s won", a, won)
		}
		if won == api.RequestApproved {
			g.clock.Advance(time.Hour) // let it expire before the next round
		}
	}
}

// TestRequestFlood: a user has at most MaxPendingRequests waiting.
func TestRequestFlood(t *testing.T) {
	g := newRequestsRig(t)
	apps := []string{"db", "db2", "db3", "db4", "db5"}
	for _, a := range apps[:api.MaxPendingRequests] {
		g.ask(t, "alice", a, time.Hour)
	}
	_, err := g.r.Request(context.Background(), Requester{User: "alice", Device: "d"}, api.AccessRequestInput{App: "db6", Reason: "x", For: api.Duration(time.Hour)})
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "waiting already") {
		t.Errorf("Request past the pending limit = %v, want ErrConflict saying so", err)
	}
}

// TestRequestCancel: a requester withdraws their own pending request
// (recorded cancelled, access no longer pending), nobody else can; a
// cancelled one cannot be approved; approved access ends early by its
// requester or by an approver with a note (Revoke), and the user's
// decisions say who ended it.
func TestRequestCancel(t *testing.T) {
	g := newRequestsRig(t)
	ctx := context.Background()
	req := g.ask(t, "alice", "db", time.Hour)
	if _, err := g.r.Cancel(ctx, Requester{User: "erin"}, req.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Cancel by another user = %v, want ErrNotFound", err)
	}
	got, err := g.r.Cancel(ctx, Requester{User: "alice"}, req.ID)
	if err != nil || got.State != api.RequestCancelled || g.stored(t, req.ID).State != api.RequestCancelled {
		t.Fatalf("Cancel = %+v, %v, want cancelled and recorded", got, err)
	}
	if a := g.r.Access("alice")["db"]; a.Pending {
		t.Errorf("Access after cancelling = %+v, want nothing pending", a)
	}
	if _, _, err := g.r.Approve(ctx, bobActor, req.ID, api.AccessDecisionInput{}); !errors.Is(err, ErrConflict) {
		t.Errorf("Approve a cancelled request = %v, want ErrConflict", err)
	}
	// Approved access ends early: by its requester, or by an approver
	// with a note; not by anyone else.
	again := g.ask(t, "alice", "db", time.Hour)
	if _, _, err := g.r.Approve(ctx, bobActor, again.ID, api.AccessDecisionInput{}); err != nil {
		t.Fatal(err)
	}
	if got, err := g.r.Cancel(ctx, Requester{User: "alice"}, again.ID); err != nil || got.State != api.RequestCancelled {
		t.Fatalf("Cancel of approved access by its requester = %+v, %v, want cancelled", got, err)
	}
	if a := g.r.Access("alice")["db"]; a.Until.After(g.clock.Now()) || !strings.Contains(a.Denied, "ended early by user:alice") {
		t.Errorf("Access after ending it early = %+v, want none, saying it ended early", a)
	}
	third := g.ask(t, "alice", "db", time.Hour)
	if _, _, err := g.r.Revoke(ctx, bobActor, third.ID, api.AccessDecisionInput{Note: "x"}); !errors.Is(err, ErrConflict) {
		t.Errorf("Revoke of a pending request = %v, want ErrConflict (deny it)", err)
	}
	if _, _, err := g.r.Approve(ctx, bobActor, third.ID, api.AccessDecisionInput{}); err != nil {
		t.Fatal(err)
	}
	for name, who := range map[string]Actor{"a non-approver": carolActor, "an API token": testOwner, "the requester": aliceActor} {
		if _, _, err := g.r.Revoke(ctx, who, third.ID, api.AccessDecisionInput{Note: "x"}); !errors.Is(err, ErrForbidden) {
			t.Errorf("Revoke by %s = %v, want ErrForbidden", name, err)
		}
	}
	if _, _, err := g.r.Revoke(ctx, daveActor, third.ID, api.AccessDecisionInput{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Revoke without a note = %v, want ErrInvalid", err)
	}
	got, _, err = g.r.Revoke(ctx, daveActor, third.ID, api.AccessDecisionInput{Note: "incident over"})
	if err != nil || got.State != api.RequestCancelled || !strings.Contains(g.stored(t, third.ID).Note, "ended early by user:dave: incident over") {
		t.Fatalf("Revoke by dave = %+v, %v; stored %+v", got, err, g.stored(t, third.ID))
	}
	if a := g.r.Access("alice")["db"]; a.Until.After(g.clock.Now()) || !strings.Contains(a.Denied, "user:dave: incident over") {
		t.Errorf("Access after the revocation = %+v, want none, saying who ended it and why", a)
	}
}
