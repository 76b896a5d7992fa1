package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/grants"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
	"github.com/gatehouse-ztna/gatehouse/controller/policy"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// Just-in-time access requests (api/access.go, docs/decisions.md "jit"):
// the state machine pending → approved → expired, pending → denied,
// pending → expired (nobody decided in time). Every step is a
// compare-and-set in the store, so two approvers racing leave one
// decision; the open requests are mirrored in memory for decisions
// (Access), and a timer on the injected clock ends each one on time.

// The changes requests make (Change.Object ObjectAccessRequest, Name the ID).
const (
	ObjectAccessRequest ObjectKind = "access request"
	Requested           ChangeKind = "requested"
	Denied              ChangeKind = "denied"
	Cancelled           ChangeKind = "cancelled"
	Expired             ChangeKind = "expired"
)

// AccessDirectory is what Requests reads of the current policy.
type AccessDirectory interface {
	// ApprovalPolicy is the just-in-time policy giving app to user
	// (policy.Snapshot.ApprovalPolicy).
	ApprovalPolicy(user, app string) (api.Policy, bool)
	// AppExists reports whether app exists.
	AppExists(app string) bool
	// InGroup reports whether user is a member of group now.
	InGroup(user, group string) bool
}

// Requester is who asks for access: the user of a device whose link proved
// its key (and, on an interactive device, carries a live session).
type Requester struct{ User, Device string }

// Requests is the core's just-in-time access component.
type Requests struct {
	store   store.AccessStore
	clock   grants.Clock
	dir     AccessDirectory
	changed func(ctx context.Context, user string) // re-decides user's devices; called without mu
	commit  func(ctx context.Context, ch Change) error
	log     *slog.Logger
	// minAccess is the shortest access one may ask for or approve
	// (api.MinAccess; tests make it shorter).
	minAccess time.Duration

	mu     sync.Mutex                     // guards open, byUser, ended, timers and closed
	open   map[string]api.AccessRequest   // pending and approved requests, by ID
	byUser map[string]map[string]struct{} // the IDs in open, by user: a decision reads only its user's
	// ended holds, by user and app, how the user's last request ended
	// (expired or denied), for endedMemory: the next denial says so.
	ended  map[string]map[string]pastAccess
	timers map[string]grants.Timer // the end of each open request, by ID
	closed bool
}

// pastAccess is how a user's last request for an app ended.
type pastAccess struct {
	at     time.Time     // when: the approved end, or the denial
	access policy.Access // what decisions say of it: Until (expired) or Denied
}

// endedMemory is how long a decision says when access expired; after it,
// the denial says only that access needs a request.
const endedMemory = 24 * time.Hour

// newRequests makes the component; load it before use.
func newRequests(st store.AccessStore, clock grants.Clock, dir AccessDirectory, changed func(context.Context, string),
	commit func(context.Context, Change) error, log *slog.Logger, minAccess time.Duration) *Requests {
	return &Requests{store: st, clock: clock, dir: dir, changed: changed, commit: commit, log: log, minAccess: minAccess,
		open: map[string]api.AccessRequest{}, byUser: map[string]map[string]struct{}{}, ended: map[string]map[string]pastAccess{},
		timers: map[string]grants.Timer{}}
}

// load reads the open requests and sets their timers; one already due
// ends at once.
func (r *Requests) load(ctx context.Context) error {
	for _, state := range []string{api.RequestPending, api.RequestApproved} {
		rs, err := r.store.ListAccessRequests(ctx, state)
		if err != nil {
			return fmt.Errorf("load access requests: %w", err)
		}
		for _, req := range rs {
			r.track(req)
		}
	}
	return nil
}

// track mirrors an open request and arms the timer that ends it.
func (r *Requests) track(req api.AccessRequest) {
	end := req.ExpiresAt
	if req.State == api.RequestPending {
		end = req.RequestedAt.Add(api.RequestPendingTTL)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if t := r.timers[req.ID]; t != nil {
		t.Stop()
	}
	r.open[req.ID] = req
	if r.byUser[req.User] == nil {
		r.byUser[req.User] = map[string]struct{}{}
	}
	r.byUser[req.User][req.ID] = struct{}{}
	id := req.ID
	r.timers[id] = r.clock.AfterFunc(max(end.Sub(r.clock.Now()), 0), func() { r.end(context.Background(), id) })
}

// close stops every timer.
func (r *Requests) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for _, t := range r.timers {
		t.Stop()
	}
}

// Access is user's just-in-time access by app, for policy.Input; nil
// when the user has none. It reads only the user's own requests.
func (r *Requests) Access(user string) map[string]policy.Access {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids, ended := r.byUser[user], r.ended[user]
	if len(ids) == 0 && len(ended) == 0 {
		return nil
	}
	out := make(map[string]policy.Access, len(ids)+len(ended))
	now := r.clock.Now()
	for app, p := range ended {
		if now.Sub(p.at) > endedMemory {
			delete(ended, app)
			continue
		}
		out[app] = p.access
	}
	if len(ended) == 0 {
		delete(r.ended, user)
	}
	for id := range ids {
		req := r.open[id]
		a := out[req.App]
		switch {
		case req.State == api.RequestPending:
			a.Pending = true
		case req.State == api.RequestApproved && req.ExpiresAt.After(a.Until):
			a.Until = req.ExpiresAt
		}
		out[req.App] = a
	}
	return out
}

// Request records user's request for in.App: the app must exist and a
// policy must give it to the user only with approval; the reason is
// required, plain and bounded; the duration at most the policy's
// MaxAccess; one open request per app, and at most MaxPendingRequests
// waiting per user.
func (r *Requests) Request(ctx context.Context, who Requester, in api.AccessRequestInput) (api.AccessRequest, error) {
	if in.App == "" {
		return api.AccessRequest{}, Invalid("name the app: gatehouse request APP --reason … --for 2h")
	}
	if !r.dir.AppExists(in.App) {
		return api.AccessRequest{}, kindError{ErrNotFound, fmt.Errorf("there is no app named %q: check the name with gatehouse apps", Clip(in.App))}
	}
	p, ok := r.dir.ApprovalPolicy(who.User, in.App)
	if !ok {
		return api.AccessRequest{}, Invalid("%s needs no request for you: either a policy gives it to you already (gatehouse connect %s), "+
			"or none does (ask an admin)", in.App, in.App)
	}
	if err := api.CheckRequestText("reason", in.Reason, api.MaxRequestReason, true); err != nil {
		return api.AccessRequest{}, Invalid("%s", err)
	}
	d := time.Duration(in.For)
	if limit := policy.MaxAccess(p); d < r.minAccess || d > limit {
		return api.AccessRequest{}, Invalid("ask for between %s and %s of access to %s (at most --for %s)", r.minAccess, limit, in.App, limit)
	}
	now := r.clock.Now()
	req := api.AccessRequest{ID: newID("req_"), User: who.User, Device: who.Device, App: in.App, Policy: p.Name,
		Approvers: p.Approvers, Reason: in.Reason, For: api.Duration(d), State: api.RequestPending, RequestedAt: now}
	err := r.store.CreateAccessRequest(ctx, req, now, api.MaxPendingRequests)
	switch {
	case errors.Is(err, store.ErrExists):
		return api.AccessRequest{}, kindError{ErrConflict, fmt.Errorf("you have a request for %s pending or approved already: see gatehouse apps", in.App)}
	case errors.Is(err, store.ErrTooMany):
		return api.AccessRequest{}, kindError{ErrConflict, fmt.Errorf("you have %d requests waiting already: wait for a decision", api.MaxPendingRequests)}
	case err != nil:
		return api.AccessRequest{}, err
	}
	r.track(req)
	r.log.Info("access requested", "id", req.ID, "user", req.User, "app", req.App, "for", d)
	r.done(ctx, req, Requested, Actor{Kind: ActorUser, Name: who.User})
	return req, nil
}

// Approve approves request id for its full time, or for in.For when that
// is set and shorter. Only a signed-in person (not an API token or the
// bootstrap token) who is a member of the policy's approvers group now
// may, and never for their own request; only a pending request that has
// not lapsed can be approved.
func (r *Requests) Approve(ctx context.Context, who Actor, id string, in api.AccessDecisionInput) (api.AccessRequest, Change, error) {
	req, p, err := r.decidable(ctx, who, id, api.RequestPending)
	if err != nil {
		return api.AccessRequest{}, Change{}, err
	}
	if err := api.CheckRequestText("note", in.Note, api.MaxRequestNote, false); err != nil {
		return api.AccessRequest{}, Change{}, Invalid("%s", err)
	}
	d := time.Duration(req.For)
	if in.For != 0 {
		if time.Duration(in.For) < r.minAccess || time.Duration(in.For) > d {
			return api.AccessRequest{}, Change{}, Invalid("approve between %s and the %s asked for (--for)", r.minAccess, d)
		}
		d = time.Duration(in.For)
	}
	d = min(d, policy.MaxAccess(p))
	now := r.clock.Now()
	req.State, req.DecidedBy, req.DecidedAt, req.Note = api.RequestApproved, who.String(), now, in.Note
	req.Granted, req.ExpiresAt = api.Duration(d), now.Add(d)
	return r.decide(ctx, req, Approved, who)
}

// Deny refuses request id with a note saying why (required); who may as
// for Approve.
func (r *Requests) Deny(ctx context.Context, who Actor, id string, in api.AccessDecisionInput) (api.AccessRequest, Change, error) {
	req, err := r.decidableWithNote(ctx, who, id, api.RequestPending, in.Note)
	if err != nil {
		return api.AccessRequest{}, Change{}, err
	}
	req.State, req.DecidedBy, req.DecidedAt, req.Note = api.RequestDenied, who.String(), r.clock.Now(), in.Note
	return r.decide(ctx, req, Denied, who)
}

// Cancel withdraws the requester's own pending request id, or ends their
// approved access early; another user's request is as unknown to them as
// one that does not exist.
func (r *Requests) Cancel(ctx context.Context, who Requester, id string) (api.AccessRequest, error) {
	req, err := r.store.GetAccessRequest(ctx, id)
	if err != nil || req.User != who.User {
		return api.AccessRequest{}, kindError{ErrNotFound, fmt.Errorf("you have no request %s: see gatehouse apps", Clip(id))}
	}
	if req.State != api.RequestPending && req.State != api.RequestApproved {
		return api.AccessRequest{}, kindError{ErrConflict, fmt.Errorf("request %s is %s already", id, req.State)}
	}
	return r.cancel(ctx, req, Actor{Kind: ActorUser, Name: who.User}, "")
}

// Revoke ends approved access early: who may as for Approve (a person in
// the approvers group, not the requester), with a note saying why.
func (r *Requests) Revoke(ctx context.Context, who Actor, id string, in api.AccessDecisionInput) (api.AccessRequest, Change, error) {
	req, err := r.decidableWithNote(ctx, who, id, api.RequestApproved, in.Note)
	if err != nil {
		return api.AccessRequest{}, Change{}, err
	}
	req, err = r.cancel(ctx, req, who, in.Note)
	return req, Change{Kind: Cancelled, Object: ObjectAccessRequest, Name: id, By: who}, err
}

// cancel moves req (pending or approved) to cancelled, once: of two
// racing, the second gets ErrConflict. Ending approved access early is
// remembered for the user's decisions, with who ended it and why.
func (r *Requests) cancel(ctx context.Context, req api.AccessRequest, by Actor, why string) (api.AccessRequest, error) {
	from, now := req.State, r.clock.Now()
	req.State, req.EndedAt = api.RequestCancelled, now
	ended := ""
	if from == api.RequestApproved {
		ended = "ended early by " + by.String()
		if why != "" {
			ended += ": " + why
		}
		req.Note = strings.TrimPrefix(req.Note+"; "+ended, "; ")
	}
	err := r.store.UpdateAccessRequest(ctx, req, from)
	if errors.Is(err, store.ErrStateChanged) {
		return api.AccessRequest{}, kindError{ErrConflict, err}
	}
	if err != nil {
		return api.AccessRequest{}, err
	}
	if ended != "" {
		r.mu.Lock()
		r.rememberLocked(req, pastAccess{at: now, access: policy.Access{Denied: ended}})
		r.mu.Unlock()
	}
	r.forget(req.ID)
	r.log.Info("access request cancelled", "id", req.ID, "user", req.User, "app", req.App, "was", from, "by", by.String())
	r.done(ctx, req, Cancelled, by)
	return req, nil
}

// List lists the requests in state ("" for all), newest first. Anyone who
// may read policies sees all; a signed-in person sees those they may
// decide and their own.
func (r *Requests) List(ctx context.Context, who Actor, state string) ([]api.AccessRequest, error) {
	switch state {
	case "", api.RequestPending, api.RequestApproved, api.RequestDenied, api.RequestExpired, api.RequestCancelled:
	default:
		return nil, Invalid("no request state %q: use pending, approved, denied, expired or cancelled", Clip(state))
	}
	all := who.mayRead(identity.AreaPolicies) == nil
	if !all && who.Kind != ActorUser {
		return nil, who.mayRead(identity.AreaPolicies)
	}
	rs, err := r.store.ListAccessRequests(ctx, state)
	if err != nil || all {
		return rs, err
	}
	return slices.DeleteFunc(rs, func(q api.AccessRequest) bool {
		return q.User != who.Name && !r.dir.InGroup(who.Name, q.Approvers)
	}), nil
}

// decidable is request id if who may decide it now, with the policy it
// is decided under.
func (r *Requests) decidable(ctx context.Context, who Actor, id, state string) (api.AccessRequest, api.Policy, error) {
	if who.Kind != ActorUser {
		return api.AccessRequest{}, api.Policy{}, fmt.Errorf("%w: %s may not decide access requests: approvals need a person; "+
			"sign in with gatehouse admin login", ErrForbidden, who)
	}
	req, err := r.store.GetAccessRequest(ctx, id)
	if err != nil {
		return api.AccessRequest{}, api.Policy{}, err
	}
	if req.User == who.Name {
		return api.AccessRequest{}, api.Policy{}, fmt.Errorf("%w: %s may not decide their own request %s: ask another member of %s",
			ErrForbidden, who, id, req.Approvers)
	}
	// The policy now, not as it was asked under: an approver taken out
	// of the group, or a policy that no longer needs approval, decides
	// nothing.
	p, ok := r.dir.ApprovalPolicy(req.User, req.App)
	if !ok {
		return api.AccessRequest{}, api.Policy{}, kindError{ErrConflict, fmt.Errorf("request %s: no policy gives %s to %s with approval any more; nothing to decide", id, req.App, req.User)}
	}
	if !r.dir.InGroup(who.Name, p.Approvers) {
		return api.AccessRequest{}, api.Policy{}, fmt.Errorf("%w: %s is not a member of %s, the approvers of policy %s",
			ErrForbidden, who, p.Approvers, p.Name)
	}
	if req.State != state {
		return api.AccessRequest{}, api.Policy{}, kindError{ErrConflict, fmt.Errorf("request %s is %s already", id, req.State)}
	}
	if state == api.RequestPending && !r.clock.Now().Before(req.RequestedAt.Add(api.RequestPendingTTL)) {
		r.end(ctx, id)
		return api.AccessRequest{}, api.Policy{}, kindError{ErrConflict, fmt.Errorf("request %s waited longer than %s and lapsed: ask for a new one", id, api.RequestPendingTTL)}
	}
	return req, p, nil
}

// decidableWithNote is decidable for a step that must say why: note is
// required.
func (r *Requests) decidableWithNote(ctx context.Context, who Actor, id, state, note string) (api.AccessRequest, error) {
	req, _, err := r.decidable(ctx, who, id, state)
	if err != nil {
		return api.AccessRequest{}, err
	}
	if err := api.CheckRequestText("note", note, api.MaxRequestNote, true); err != nil {
		return api.AccessRequest{}, Invalid("%s (--note)", err)
	}
	return req, nil
}

// decide writes req's decision if it is still pending: of two deciders
// racing, the second finds it decided (ErrConflict).
func (r *Requests) decide(ctx context.Context, req api.AccessRequest, kind ChangeKind, who Actor) (api.AccessRequest, Change, error) {
	err := r.store.UpdateAccessRequest(ctx, req, api.RequestPending)
	if errors.Is(err, store.ErrStateChanged) {
		return api.AccessRequest{}, Change{}, kindError{ErrConflict, err}
	}
	if err != nil {
		return api.AccessRequest{}, Change{}, err
	}
	if req.State == api.RequestApproved {
		r.track(req)
	} else {
		r.mu.Lock()
		r.rememberLocked(req, pastAccess{at: req.DecidedAt,
			access: policy.Access{Denied: fmt.Sprintf("denied by %s: %s", req.DecidedBy, req.Note)}})
		r.mu.Unlock()
		r.forget(req.ID)
	}
	r.log.Info("access request "+string(kind), "id", req.ID, "user", req.User, "app", req.App, "by", who.String())
	ch := r.done(ctx, req, kind, who)
	return req, ch, nil
}

// end finishes an open request whose time is up: approved access expires
// at its ExpiresAt, a pending request lapses.
func (r *Requests) end(ctx context.Context, id string) {
	r.mu.Lock()
	req, ok := r.open[id]
	r.mu.Unlock()
	if !ok {
		return
	}
	from := req.State
	now := r.clock.Now()
	req.State, req.EndedAt = api.RequestExpired, now
	if from == api.RequestApproved {
		req.EndedAt = req.ExpiresAt
		if now.Before(req.ExpiresAt) {
			r.track(req) // a timer that fired early: arm it again
			return
		}
	} else if req.Note == "" {
		req.Note = fmt.Sprintf("nobody decided within %s", api.RequestPendingTTL)
	}
	err := r.store.UpdateAccessRequest(ctx, req, from)
	if errors.Is(err, store.ErrStateChanged) {
		return // decided meanwhile (an approval beat the lapse): its own step tracks it
	}
	if err != nil {
		// The access ends in memory anyway (fail closed); the record
		// catches up at the next start.
		r.log.Error("record the end of an access request", "id", id, "err", err)
	}
	r.mu.Lock()
	if from == api.RequestApproved {
		r.rememberLocked(req, pastAccess{at: req.ExpiresAt, access: policy.Access{Until: req.ExpiresAt}})
	}
	r.mu.Unlock()
	r.forget(id)
	r.log.Info("access request expired", "id", id, "user", req.User, "app", req.App, "was", from)
	r.done(ctx, req, Expired, Actor{Kind: ActorKind("controller"), Name: "clock"})
}

// rememberLocked keeps how req ended for its user's next decisions; of
// two ends, the later one stays.
func (r *Requests) rememberLocked(req api.AccessRequest, p pastAccess) {
	if r.ended[req.User] == nil {
		r.ended[req.User] = map[string]pastAccess{}
	}
	if cur, ok := r.ended[req.User][req.App]; !ok || !p.at.Before(cur.at) {
		r.ended[req.User][req.App] = p
	}
}

// forget drops an open request from memory.
func (r *Requests) forget(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t := r.timers[id]; t != nil {
		t.Stop()
	}
	delete(r.timers, id)
	if req, ok := r.open[id]; ok {
		delete(r.byUser[req.User], id)
		if len(r.byUser[req.User]) == 0 {
			delete(r.byUser, req.User)
		}
	}
	delete(r.open, id)
}

// done records the change and re-decides the user's devices.
func (r *Requests) done(ctx context.Context, req api.AccessRequest, kind ChangeKind, who Actor) Change {
	ch := Change{Kind: kind, Object: ObjectAccessRequest, Name: req.ID, By: who}
	if err := r.commit(ctx, ch); err != nil {
		r.log.Error("commit access request change", "change", ch.String(), "err", err)
	}
	r.changed(context.WithoutCancel(ctx), req.User)
	return ch
}

// accessDirectory is the controller's policy snapshot as Requests reads it.
type accessDirectory struct{ c *Controller }

var _ AccessDirectory = accessDirectory{}

func (d accessDirectory) ApprovalPolicy(user, app string) (api.Policy, bool) {
	d.c.mu.Lock()
	defer d.c.mu.Unlock()
	return d.c.snap.ApprovalPolicy(user, app)
}

func (d accessDirectory) AppExists(app string) bool {
	d.c.mu.Lock()
	defer d.c.mu.Unlock()
	_, ok := d.c.snap.Apps[app]
	return ok
}

func (d accessDirectory) InGroup(user, group string) bool {
	d.c.mu.Lock()
	defer d.c.mu.Unlock()
	return group != "" && slices.Contains(d.c.snap.Users[user].Groups, group)
}

// redecideUser re-decides the live grants of user's linked devices and
// refreshes their agents' decisions: their access changed.
func (c *Controller) redecideUser(ctx context.Context, user string) {
	c.mu.Lock()
	var links []*AgentLink
	for _, s := range c.links {
		if s.user == user {
			links = append(links, s)
		}
	}
	c.mu.Unlock()
	for _, s := range links {
		c.redecideDevice(ctx, s)
	}
}

// validAccessNeeds checks p's just-in-time fields: approvers name a group,
// and MaxAccess (only with approvers) lies between MinAccess and
// MaxMaxAccess.
func validAccessNeeds(p *api.Policy) error {
	if p.Approvers == "" {
		if p.MaxAccess != 0 {
			return Invalid("policy %q: --max-access needs --approvers GROUP (who approves requests)", p.Name)
		}
		return nil
	}
	if err := validName("group", p.Approvers); err != nil {
		return Invalid("policy %q: --approvers: %v", p.Name, err)
	}
	if d := time.Duration(p.MaxAccess); d != 0 && (d < api.MinAccess || d > api.MaxMaxAccess) {
		return Invalid("policy %q: --max-access %v: use between %v and %v, e.g. --max-access 8h", p.Name, d, api.MinAccess, api.MaxMaxAccess)
	}
	return nil
}

// accessRequest is a user's request for access, from their device's link:
// the link proved the device key, and an interactive device must also
// hold a live signed-in session. The answer goes back on the link.
func (c *Controller) accessRequest(ctx context.Context, s *AgentLink, msg api.AccessRequestMsg) {
	answer := func(req *api.AccessRequest, err error) {
		res := api.AccessResultMsg{Seq: msg.Seq, Request: req}
		if err != nil {
			res.Error = err.Error()
		}
		s.send(api.TypeAccessResult, res)
	}
	if !s.limits.grantRate.AllowN(c.clock.Now(), 1) {
		answer(nil, fmt.Errorf("too many requests from this device: try again in a moment"))
		return
	}
	c.mu.Lock()
	id := c.idents[s.device]
	signedOut := id == nil || id.state != policy.DeviceApproved || (id.interactive && id.session == nil)
	c.mu.Unlock()
	if signedOut {
		answer(nil, fmt.Errorf("this device cannot ask for access now: it needs approval, or sign in again (gatehouse login)"))
		return
	}
	who := Requester{User: s.user, Device: s.device}
	if msg.Cancel != "" {
		req, err := c.Requests.Cancel(ctx, who, msg.Cancel)
		if err != nil {
			answer(nil, err)
			return
		}
		answer(&req, nil)
		return
	}
	req, err := c.Requests.Request(ctx, who, msg.AccessRequestInput)
	if err != nil {
		answer(nil, err)
		return
	}
	answer(&req, nil)
}
