package controller

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
	"github.com/gatehouse-ztna/gatehouse/controller/policy"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// Exceptions are waived posture checks (api.Exception): for one user or
// one device, with an owner who answers for them, a reason and an expiry.
// They are policy (the roles matrix's policies area). Creating or
// deleting one re-decides every live grant at once; at an expiry the
// controller re-decides again (watchExpiries), so a grant an exception
// carried ends when it does.
type Exceptions struct {
	store  store.ExceptionStore
	writes *sync.Mutex // the controller's adminMu: one admin write at a time
	commit func(context.Context, Change) error
	now    func() time.Time
}

// Limits of an exception (docs/decisions.md, "exceptions").
const (
	// MaxExceptionTTL is the longest an exception may last from its
	// creation: a waiver is a stopgap, renewed deliberately.
	MaxExceptionTTL    = 90 * 24 * time.Hour
	maxExceptionChecks = 16
	maxOwnerLen        = 64
	maxReasonLen       = 256
	maxCheckLen        = 256
)

// checkNameRE is a check's name as profiles name them: "firewall",
// "min_os_version", "process:/usr/sbin/sshd".
var checkNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}(:[^\s:][^\s]*)?$`)

// List returns every exception, expired ones too, sorted by ID.
func (x *Exceptions) List(ctx context.Context, who Actor) ([]api.Exception, error) {
	if err := who.mayRead(identity.AreaPolicies); err != nil {
		return nil, err
	}
	return x.store.ListExceptions(ctx)
}

// Get returns the exception with id; ErrNotFound if there is none.
func (x *Exceptions) Get(ctx context.Context, who Actor, id string) (api.Exception, error) {
	if err := who.mayRead(identity.AreaPolicies); err != nil {
		return api.Exception{}, err
	}
	return x.store.GetException(ctx, id)
}

// Create validates and stores e (its creator and creation time are the
// controller's; an empty ID gets a random one) and re-decides every live
// grant; ErrNotFound if the user or device it names does not exist,
// ErrConflict if its ID is taken.
func (x *Exceptions) Create(ctx context.Context, who Actor, e api.Exception) (api.Exception, Change, error) {
	if err := who.mayWrite(identity.AreaPolicies); err != nil {
		return api.Exception{}, Change{}, err
	}
	x.writes.Lock()
	defer x.writes.Unlock()
	now := x.now()
	if err := validateException(&e, now); err != nil {
		return api.Exception{}, Change{}, err
	}
	if e.ID != "" {
		// Kept when given (policy as code names its exceptions).
		if err := validName("exception", e.ID); err != nil {
			return api.Exception{}, Change{}, err
		}
	}
	e.CreatedBy, e.CreatedAt = who.String(), now
	stored, err := x.store.CreateException(ctx, e, now)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			what := "user " + e.User
			if e.Device != "" {
				what = "device " + e.Device
			}
			return api.Exception{}, Change{}, kindError{ErrNotFound, errors.New("there is no " + what + " (gatehouse admin users list, gatehouse admin devices list)")}
		}
		return api.Exception{}, Change{}, err
	}
	ch := Change{Kind: Created, Object: ObjectException, Name: stored.ID, By: who}
	return stored, ch, x.commit(ctx, ch)
}

// Delete deletes the exception with id and re-decides every live grant;
// ErrNotFound if there is none.
func (x *Exceptions) Delete(ctx context.Context, who Actor, id string) (Change, error) {
	if err := who.mayWrite(identity.AreaPolicies); err != nil {
		return Change{}, err
	}
	x.writes.Lock()
	defer x.writes.Unlock()
	if err := x.store.DeleteException(ctx, id); err != nil {
		return Change{}, err
	}
	ch := Change{Kind: Deleted, Object: ObjectException, Name: id, By: who}
	return ch, x.commit(ctx, ch)
}

// validateException checks e at now: exactly one of user and device, 1
// to 16 well-formed, waivable, distinct check names, an owner and a
// reason of printable text within bounds, and an expiry after now and at
// most MaxExceptionTTL away.
func validateException(e *api.Exception, now time.Time) error {
	switch {
	case e.User != "" && e.Device != "":
		return Invalid("an exception names a user or a device, not both (--user or --device)")
	case e.User == "" && e.Device == "":
		return Invalid("an exception needs the user (--user) or the device (--device) it is for")
	case e.User != "":
		if err := validName("user", e.User); err != nil {
			return err
		}
	case !printable(e.Device) || len(e.Device) > 128:
		return Invalid("device ID %q is not one (gatehouse admin devices list)", Clip(e.Device))
	}
	if len(e.Checks) == 0 || len(e.Checks) > maxExceptionChecks {
		return Invalid("an exception waives 1 to %d checks (--check firewall --check disk_encryption …); it names %d", maxExceptionChecks, len(e.Checks))
	}
	for i, c := range e.Checks {
		switch {
		case len(c) > maxCheckLen || !checkNameRE.MatchString(c) || !printable(c):
			return Invalid("check %q is not a check's name: use the names `gatehouse posture` shows (firewall, disk_encryption, min_os_version, process:/usr/sbin/sshd)", Clip(c))
		case !policy.Waivable(c):
			return Invalid("check %q cannot be waived (fix the policy instead)", c)
		case slices.Contains(e.Checks[:i], c):
			return Invalid("check %q is named twice", c)
		}
	}
	e.Owner, e.Reason = strings.TrimSpace(e.Owner), strings.TrimSpace(e.Reason)
	if e.Owner == "" || len(e.Owner) > maxOwnerLen || !printable(e.Owner) {
		return Invalid("an exception needs an owner who answers for it (--owner it-sec): 1 to %d printable characters", maxOwnerLen)
	}
	if e.Reason == "" || len(e.Reason) > maxReasonLen || !printable(e.Reason) {
		return Invalid("an exception needs a reason (--reason \"…\"): 1 to %d printable characters", maxReasonLen)
	}
	switch {
	case e.ExpiresAt.IsZero():
		return Invalid("an exception needs an expiry (--until 2026-12-31T00:00Z or --for 72h)")
	case !e.ExpiresAt.After(now):
		return Invalid("the expiry %s has passed; give a time in the future", e.ExpiresAt.UTC().Format(time.RFC3339))
	case e.ExpiresAt.Sub(now) > MaxExceptionTTL:
		return Invalid("the expiry %s is more than %d days away; an exception lasts at most %d days (create a new one when it ends)",
			e.ExpiresAt.UTC().Format(time.RFC3339), MaxExceptionTTL/(24*time.Hour), MaxExceptionTTL/(24*time.Hour))
	}
	e.ExpiresAt = e.ExpiresAt.UTC()
	return nil
}

// printable reports whether s is valid UTF-8 without control characters:
// exception fields reach users' screens and the audit log.
func printable(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == unicode.ReplacementChar })
}

// expiryWatch re-decides every live grant at each exception's expiry,
// on its clock: the engine already ignores an expired exception (it
// compares with the decision's time), and this makes the grants it
// carried end then rather than at the next renewal.
type expiryWatch struct {
	clock clock
	// next is the earliest expiry after now of the current snapshot's
	// exceptions.
	next func(now time.Time) (time.Time, bool)
	// fire re-decides.
	fire func(ctx context.Context)
	// kick holds one signal that the snapshot changed (re-arm).
	kick chan struct{}
}

func newExpiryWatch(clk clock, next func(time.Time) (time.Time, bool), fire func(context.Context)) *expiryWatch {
	return &expiryWatch{clock: clk, next: next, fire: fire, kick: make(chan struct{}, 1)}
}

// changed re-arms the watch for a new snapshot.
func (w *expiryWatch) changed() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// run waits for the next expiry and re-decides, until ctx ends.
func (w *expiryWatch) run(ctx context.Context) {
	for {
		var due <-chan time.Time
		now := w.clock.Now()
		if at, ok := w.next(now); ok {
			due = w.clock.After(at.Sub(now))
		}
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
		case <-due:
			w.fire(ctx)
		}
	}
}

// Explainer answers `gatehouse admin explain`: the whole evaluation of
// one (user, device, app) as the engine would decide it now.
type Explainer struct {
	explain func(ctx context.Context, user, device, app string) (api.Explanation, error)
}

// Explain evaluates app for device (acting for user; "" is the device's
// owner) with the facts a decision would use now — the device's approval,
// its live session and posture when its agent is linked — and says how.
// ErrNotFound names an unknown device or app; ErrInvalid a user who does
// not own the device.
func (x *Explainer) Explain(ctx context.Context, who Actor, user, device, app string) (api.Explanation, error) {
	if err := who.mayRead(identity.AreaPolicies); err != nil {
		return api.Explanation{}, err
	}
	if device == "" || app == "" {
		return api.Explanation{}, Invalid("explain needs the device (--device) and the app (--app)")
	}
	return x.explain(ctx, user, device, app)
}

// explain is Explainer.explain.
func (c *Controller) explain(ctx context.Context, user, device, app string) (api.Explanation, error) {
	rec, err := c.idStore.DeviceRecord(ctx, device)
	if errors.Is(err, store.ErrNotFound) {
		return api.Explanation{}, kindError{ErrNotFound, errors.New("there is no device " + Clip(device) + " (gatehouse admin devices list)")}
	} else if err != nil {
		return api.Explanation{}, err
	}
	c.mu.Lock()
	_, userKnown := c.snap.Users[user]
	c.mu.Unlock()
	switch {
	case user == "":
		user = rec.Owner
	case !userKnown:
		return api.Explanation{}, kindError{ErrNotFound, errors.New("there is no user " + Clip(user) + " (gatehouse admin users list)")}
	case user != rec.Owner:
		return api.Explanation{}, Invalid("device %s belongs to %s, not %s: a device acts for its owner (leave out --user)", device, rec.Owner, Clip(user))
	}
	now := time.Now()
	c.mu.Lock()
	_, linked := c.idents[device]
	c.mu.Unlock()
	var facts deviceIdent
	if !linked {
		facts = c.readIdent(ctx, device, user)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.snap.Users[user]; !ok {
		return api.Explanation{}, kindError{ErrNotFound, errors.New("there is no user " + Clip(user) + " (gatehouse admin users list)")}
	}
	if _, ok := c.snap.Apps[app]; !ok {
		return api.Explanation{}, kindError{ErrNotFound, errors.New("there is no app " + Clip(app) + " (gatehouse admin apps list)")}
	}
	in := c.inputLocked(user, device, app, now)
	if c.idents[device] == nil {
		// Not linked: what the store says, and no session.
		in.Identity.Disabled, in.Device.State, in.Device.Interactive = facts.disabled, facts.state, facts.interactive
	}
	if in.Device.Tags == nil {
		in.Device.Tags = rec.Tags
	}
	ex := c.snap.Explain(in)
	ex.Device.Online = c.links[device] != nil
	return ex, nil
}
