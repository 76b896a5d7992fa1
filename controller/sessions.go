package controller

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
	"github.com/gatehouse-ztna/gatehouse/controller/policy"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// Identity in every decision (docs/identity.md "Wiring"): the core keeps,
// per linked device, what the engine needs to know of who is at the
// keyboard — the user's disabled mark, the device's approval state and
// interactive flag, and the signed-in session its link presented — and
// re-decides the device at once when identity reports a change.
//
// The facts are always read back from the store (never taken from an
// event's payload), one device at a time under identMu, so a stale read
// can never overwrite a newer one.

// deviceIdent is the identity half of a device's decisions. Its fields
// are guarded by Controller.mu.
type deviceIdent struct {
	user        string // the device's owner, whom its link acts for
	disabled    bool   // the user is disabled
	state       string // policy.DeviceApproved, …; "" when unknown (fails closed)
	interactive bool
	tags        []string     // an admin's tags on the device (device.tags)
	session     *linkSession // nil when no live session was presented
	// source is the address the device's link comes from, as this
	// controller sees it (request.source_ip); invalid when unknown.
	source netip.Addr
}

// linkSession is the signed-in session a device's link presented.
type linkSession struct {
	id            string
	user          string
	methods       []string
	authAt, mfaAt time.Time
	access        string    // its current access token, for logout; never logged
	accessExpires time.Time // the link's session lapses here unless refreshed
	lapse         *time.Timer
}

// input is the engine's question for device, of user, on app at now.
// Called with c.mu held.
func (c *Controller) inputLocked(user, device, app string, now time.Time) policy.Input {
	in := policy.Input{Identity: c.snap.Identity(user), Device: policy.Device{ID: device},
		Posture: c.postureLocked(device, now), App: app, Time: now}
	if c.Requests != nil {
		in.Access = c.Requests.Access(user)
	}
	id := c.idents[device]
	if id == nil {
		return in // state unknown: fails closed
	}
	in.Identity.Disabled = id.disabled
	in.Device.State, in.Device.Interactive, in.Device.Tags = id.state, id.interactive, id.tags
	if id.source.IsValid() {
		in.SourceIP = id.source.String()
	}
	if s := id.session; s != nil {
		in.Session = &policy.Session{Methods: s.methods, AuthAt: s.authAt, MFAAt: s.mfaAt}
	}
	return in
}

// identityWork is the queue of identity events and session lapses the
// core's identity worker acts on, in order. Identity calls its
// subscribers synchronously and they must not block, so events are
// queued here and never dropped: a dropped event would be a cut missed.
type identityWork struct {
	mu    sync.Mutex // guards items
	items []identityItem
	ready chan struct{} // holds one signal when items is not empty
}

// identityItem is an identity event, or (lapse set) a device whose
// session's access token may have run out.
type identityItem struct {
	event identity.Event
	lapse string
}

func (w *identityWork) push(it identityItem) {
	w.mu.Lock()
	w.items = append(w.items, it)
	w.mu.Unlock()
	select {
	case w.ready <- struct{}{}:
	default:
	}
}

func (w *identityWork) take() []identityItem {
	w.mu.Lock()
	defer w.mu.Unlock()
	items := w.items
	w.items = nil
	return items
}

// onIdentityEvent is the core's subscription to identity's events. It
// runs on the goroutine that made the change, right after its commit: a
// cut (a session revoked, a device blocked, a user disabled) takes hold
// in the facts decisions read at once, before it returns, so no grant is
// decided on the old facts; the re-decision, which talks to gateways,
// is queued for watchIdentity. What allows more (approval, enabling)
// waits for the store to be read again: that fails closed.
func (c *Controller) onIdentityEvent(e identity.Event) {
	c.mu.Lock()
	switch e.Kind {
	case identity.SessionRevoked:
		if id := c.idents[e.Device]; id != nil && id.session != nil && id.session.id == e.Session {
			c.endSessionLocked(e.Device, id, signedOut(api.CodeSessionRevoked, fmt.Sprintf("your session was ended (%s)", e.Reason)))
		}
	case identity.DeviceBlocked:
		if id := c.idents[e.Device]; id != nil {
			id.state = policy.DeviceBlocked
		}
	case identity.UserDisabled:
		for _, id := range c.idents {
			if id.user == e.User {
				id.disabled = true
			}
		}
	}
	c.mu.Unlock()
	c.idWork.push(identityItem{event: e})
}

// watchIdentity acts on identity's events until ctx ends.
func (c *Controller) watchIdentity(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.idWork.ready:
		}
		for _, it := range c.idWork.take() {
			if it.lapse != "" {
				c.lapseSession(ctx, it.lapse)
				continue
			}
			c.identityEvent(ctx, it.event)
		}
	}
}

// identityEvent re-decides, at once, the devices an identity event
// touches.
func (c *Controller) identityEvent(ctx context.Context, e identity.Event) {
	switch e.Kind {
	case identity.SessionCreated, identity.SessionRevoked, identity.DeviceBlocked, identity.DeviceApproved:
		// SessionCreated: the store made the device interactive with the
		// session; its link without one now gets nothing.
		c.redecideIdentity(ctx, e.Device)
	case identity.UserDisabled, identity.UserEnabled:
		c.mu.Lock()
		var devices []string
		for dev, id := range c.idents {
			if id.user == e.User {
				devices = append(devices, dev)
			}
		}
		c.mu.Unlock()
		for _, dev := range devices {
			c.redecideIdentity(ctx, dev)
		}
	}
}

// redecideIdentity reads device's identity facts afresh, then re-decides
// its grants (revoking at the gateway those that no longer pass) and
// refreshes its agent's decisions.
func (c *Controller) redecideIdentity(ctx context.Context, device string) {
	if !c.reloadIdent(ctx, device) {
		return
	}
	c.grants.Reevaluate(ctx, device)
	if s := c.link(device); s != nil {
		c.sendDecisions(s)
	}
}

// reloadIdent reads device's identity facts from the store into its
// deviceIdent, ending its link's session if the store says it ended;
// false when the core holds nothing for device.
func (c *Controller) reloadIdent(ctx context.Context, device string) bool {
	c.identMu.Lock()
	defer c.identMu.Unlock()
	c.mu.Lock()
	id := c.idents[device]
	var user, sessID string
	if id != nil {
		user = id.user
		if id.session != nil {
			sessID = id.session.id
		}
	}
	c.mu.Unlock()
	if id == nil {
		return false
	}
	facts := c.readIdent(ctx, device, user)
	var ended error
	if sessID != "" {
		sess, err := c.idStore.GetSession(ctx, sessID)
		ended = sessionEnded(sess, err, time.Now())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idents[device] != id {
		return true // replaced by a newer link meanwhile, which read its own
	}
	id.disabled, id.state, id.interactive, id.tags = facts.disabled, facts.state, facts.interactive, facts.tags
	if ended != nil && id.session != nil && id.session.id == sessID {
		c.endSessionLocked(device, id, ended)
	}
	return true
}

// readIdent reads the facts of device (of user) from the store; what
// cannot be read fails closed (state unknown, user disabled).
func (c *Controller) readIdent(ctx context.Context, device, user string) deviceIdent {
	out := deviceIdent{user: user}
	rec, err := c.idStore.DeviceRecord(ctx, device)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			c.log.Error("read device state; denying until it can be read", "device", device, "err", err)
		}
	} else {
		out.state, out.interactive, out.tags = rec.State, rec.Interactive, rec.Tags
	}
	acct, err := c.idStore.Account(ctx, user)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			c.log.Error("read account; denying until it can be read", "user", user, "err", err)
		}
		out.disabled = true
	} else {
		out.disabled = !acct.DisabledAt.IsZero()
	}
	return out
}

// sessionEnded says why a session read back from the store no longer
// counts, or nil while it is live.
func sessionEnded(sess store.Session, err error, now time.Time) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return signedOut(api.CodeSessionRevoked, "your session no longer exists")
	case err != nil:
		return signedOut(api.CodeSessionRevoked, "your session could not be checked")
	case !sess.RevokedAt.IsZero():
		return signedOut(api.CodeSessionRevoked, fmt.Sprintf("your session was ended (%s)", sess.RevokeReason))
	case !now.Before(sess.ExpiresAt):
		return signedOut(api.CodeSessionExpired, "your session reached its maximum age")
	}
	return nil
}

// signedOutError is why a link's session ended, as the agent hears it.
type signedOutError struct{ msg api.SignedOutMsg }

func (e *signedOutError) Error() string { return e.msg.Message }

// signedOut is a session end with code; the message ends with the fix.
func signedOut(code, what string) *signedOutError {
	return &signedOutError{api.SignedOutMsg{Code: code, Message: what + ": sign in again: gatehouse login"}}
}

// endSessionLocked drops the session of device's link and tells the
// agent why; the caller re-decides. Called with c.mu held.
func (c *Controller) endSessionLocked(device string, id *deviceIdent, why error) {
	s := id.session
	if s == nil {
		return
	}
	if s.lapse != nil {
		s.lapse.Stop()
	}
	id.session = nil
	var so *signedOutError
	if !errors.As(why, &so) {
		so = signedOut(api.CodeSessionRevoked, why.Error())
	}
	c.log.Info("signed-in session of a link ended", "device", device, "user", s.user, "session", s.id, "code", so.msg.Code)
	if l := c.links[device]; l != nil {
		l.trySend(api.TypeSignedOut, so.msg)
	}
}

// installSessionLocked makes sess, opened by access, device's link
// session, with a lapse timer at its access token's expiry. Called with
// c.mu held.
func (c *Controller) installSessionLocked(device string, id *deviceIdent, sess identity.Session, access string) {
	if old := id.session; old != nil && old.lapse != nil {
		old.lapse.Stop()
	}
	ls := &linkSession{id: sess.ID, user: sess.User, methods: sess.Methods, authAt: sess.AuthAt, mfaAt: sess.MFAAt,
		access: access, accessExpires: sess.AccessExpiresAt}
	ls.lapse = time.AfterFunc(time.Until(sess.AccessExpiresAt), func() { c.idWork.push(identityItem{lapse: device}) })
	id.session = ls
}

// lapseSession ends device's link session if its access token ran out
// unrefreshed, and re-decides the device.
func (c *Controller) lapseSession(ctx context.Context, device string) {
	c.mu.Lock()
	id := c.idents[device]
	lapsed := id != nil && id.session != nil && !time.Now().Before(id.session.accessExpires)
	if lapsed {
		c.endSessionLocked(device, id, signedOut(api.CodeSessionExpired, "your access token ran out before it was refreshed"))
	}
	c.mu.Unlock()
	if lapsed {
		c.grants.Reevaluate(ctx, device)
		if s := c.link(device); s != nil {
			c.sendDecisions(s)
		}
	}
}

// LinkRefusedError refuses an agent link with an api code the agent acts
// on (session.expired: refresh or sign in; session.revoked: sign in).
type LinkRefusedError struct {
	Code string
	Err  error
}

func (e *LinkRefusedError) Error() string { return e.Err.Error() }
func (e *LinkRefusedError) Unwrap() error { return e.Err }

// openSession checks the access token a link presented for device (of
// user): the live session it opens, or why the link is refused.
func (c *Controller) openSession(ctx context.Context, access, device, user string) (identity.Session, error) {
	sess, err := c.Identity.Authenticate(ctx, access, device)
	if err != nil {
		code := api.CodeUnauthorized // the controller could not check it
		switch {
		case errors.Is(err, identity.ErrSessionExpired), errors.Is(err, identity.ErrTokenInvalid):
			code = api.CodeSessionExpired // connect without it and refresh
		case errors.Is(err, identity.ErrSessionRevoked), errors.Is(err, identity.ErrWrongDevice):
			code = api.CodeSessionRevoked
		}
		return identity.Session{}, &LinkRefusedError{Code: code, Err: fmt.Errorf("access token refused: %w", err)}
	}
	if sess.User != user {
		return identity.Session{}, &LinkRefusedError{Code: api.CodeSessionRevoked, Err: fmt.Errorf(
			"this device is enrolled to %q but the session is %q's: sign in as %s (gatehouse login), or enroll the device for %s",
			user, sess.User, user, sess.User)}
	}
	if _, err := c.idStore.SetDeviceInteractive(ctx, device); err != nil {
		return identity.Session{}, fmt.Errorf("mark device interactive: %w", err)
	}
	return sess, nil
}

// refresh answers a link's RefreshMsg: new tokens (TokensMsg) and the
// link's session renewed, or the session ended (SignedOutMsg).
func (c *Controller) refresh(ctx context.Context, s *AgentLink, msg api.RefreshMsg) {
	sess, tok, err := c.Identity.Refresh(ctx, msg.RefreshToken, s.device)
	if err == nil && sess.User != s.user {
		err = fmt.Errorf("%w: the session is %q's, this device is enrolled to %q", identity.ErrWrongDevice, sess.User, s.user)
	}
	c.mu.Lock()
	id := c.idents[s.device]
	if id == nil || c.links[s.device] != s {
		c.mu.Unlock()
		return // the link is being replaced or closed
	}
	if err != nil {
		code := api.CodeSessionRevoked
		if errors.Is(err, identity.ErrSessionExpired) || errors.Is(err, identity.ErrTokenInvalid) {
			code = api.CodeSessionExpired
		}
		why := &signedOutError{api.SignedOutMsg{Code: code, Message: "refresh refused: " + err.Error()}}
		if id.session != nil {
			c.endSessionLocked(s.device, id, why)
		} else {
			s.trySend(api.TypeSignedOut, why.msg)
		}
		c.mu.Unlock()
		c.grants.Reevaluate(ctx, s.device)
		c.sendDecisions(s)
		return
	}
	fresh := id.session == nil || id.session.id != sess.ID
	c.installSessionLocked(s.device, id, sess, tok.Access)
	s.send(api.TypeTokens, api.TokensMsg{AccessToken: tok.Access, RefreshToken: tok.Refresh,
		ExpiresIn: int(time.Until(tok.AccessExpiresAt).Round(time.Second) / time.Second)})
	c.mu.Unlock()
	if fresh {
		// A session new to this link (signed in while linked): it may
		// make the device interactive, and it counts in decisions now.
		c.redecideIdentity(ctx, s.device)
	}
}

// logout ends the link's session at identity (the SessionRevoked event
// cuts the grants that needed it) and tells the agent.
func (c *Controller) logout(ctx context.Context, s *AgentLink) {
	c.mu.Lock()
	id := c.idents[s.device]
	var access string
	if id != nil && id.session != nil && c.links[s.device] == s {
		access = id.session.access
	}
	c.mu.Unlock()
	if access == "" {
		s.send(api.TypeSignedOut, api.SignedOutMsg{Code: api.CodeSignInRequired,
			Message: "this link has no signed-in session: sign in again: gatehouse login"})
		return
	}
	err := c.Identity.Logout(ctx, access, s.device)
	if err != nil && !errors.Is(err, identity.ErrSessionRevoked) && !errors.Is(err, identity.ErrTokenInvalid) {
		c.log.Error("logout", "device", s.device, "err", err)
	}
	c.mu.Lock()
	if c.idents[s.device] == id {
		c.endSessionLocked(s.device, id, signedOut(api.CodeSessionRevoked, "you signed out"))
	}
	c.mu.Unlock()
	c.grants.Reevaluate(ctx, s.device)
	c.sendDecisions(s)
}

// sessionInfo is the link's session for WelcomeMsg, or nil. Called with
// c.mu held.
func sessionInfo(id *deviceIdent) *api.SessionInfo {
	if id == nil || id.session == nil {
		return nil
	}
	s := id.session
	return &api.SessionInfo{User: s.user, Methods: s.methods,
		ExpiresIn: int(time.Until(s.accessExpires).Round(time.Second) / time.Second)}
}
