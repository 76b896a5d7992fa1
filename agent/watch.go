package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/api"
)

// The local API's watch stream (docs/decisions.md "watch"): the tray and
// `gatehouse status --watch` follow the agent's state instead of polling
// it. Whatever changes what the user sees calls changes.notify; each
// watcher then builds the state as it stands and sends it if it differs
// from the last it sent. A watcher holds no queue: however many changes
// came while it was writing, it sends the latest state once, so a slow
// reader never holds the agent up and never falls behind by more than one
// snapshot.

// maxWatchersPerCaller caps the watch streams one local account may hold
// open (a tray and a few terminals); more are refused with 429.
const maxWatchersPerCaller = 8

// changes tells watchers that the agent's state may have changed.
type changes struct {
	mu sync.Mutex // a leaf: guards the fields below; nothing is called under it
	// changed is closed (and forgotten) at the next notify; nil while
	// nobody waits, so a notify with no watcher allocates nothing.
	changed chan struct{}
	// watchers counts the open watch streams by caller uid.
	watchers map[int]int
}

// notify says the state may have changed. It never blocks and may be
// called with any lock held.
func (c *changes) notify() {
	c.mu.Lock()
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
	c.mu.Unlock()
}

// next is closed at the first notify after this call.
func (c *changes) next() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.changed == nil {
		c.changed = make(chan struct{})
	}
	return c.changed
}

// admit counts a new watcher of uid, unless uid holds the most already.
func (c *changes) admit(uid int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.watchers[uid] >= maxWatchersPerCaller {
		return false
	}
	if c.watchers == nil {
		c.watchers = map[int]int{}
	}
	c.watchers[uid]++
	return true
}

// leave uncounts a watcher of uid.
func (c *changes) leave(uid int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.watchers[uid]--; c.watchers[uid] <= 0 {
		delete(c.watchers, uid)
	}
}

// stateChanged tells the watchers the agent's state may have changed.
func (a *Agent) stateChanged() { a.watch.notify() }

// watchState is what one watch stream follows: the state as it stands,
// built without any of the agent's locks held across the pieces.
func (a *Agent) watchState() localapi.Update {
	st, apps, p, l := a.Status(), a.Apps(), a.Posture(), a.LoginState()
	return localapi.Update{Type: localapi.UpdateSnapshot, Status: &st, Apps: apps, Posture: &p, Login: &l}
}

// watchKey is u without what changes on its own (collection and lease
// times, counters): two states with equal keys look the same to the user.
func watchKey(u localapi.Update) []byte {
	if u.Status != nil {
		st := *u.Status
		st.RefusedCallers, st.RefusedRequests, st.Session.ExpiresAt = 0, 0, time.Time{}
		st.Tunnels = make([]localapi.Tunnel, len(u.Status.Tunnels))
		for i, t := range u.Status.Tunnels {
			t.ExpiresAt, t.OpenConns = time.Time{}, 0
			st.Tunnels[i] = t
		}
		u.Status = &st
	}
	if u.Posture != nil && u.Posture.Report != nil {
		rep := *u.Posture.Report
		rep.CollectedAt, rep.UptimeSeconds = time.Time{}, api.IntFact{}
		u.Posture = &localapi.Posture{Report: &rep, Checks: u.Posture.Checks}
	}
	u.Events = nil
	b, _ := json.Marshal(u)
	return b
}

// allowedByApp is each listed app's access.
func allowedByApp(apps []localapi.App) map[string]bool {
	m := make(map[string]bool, len(apps))
	for _, a := range apps {
		m[a.Name] = a.Allowed
	}
	return m
}

// accessEvents are the access changes from settled to next: an app in
// both that went from allowed to blocked (revoked, with its reasons) or
// back (restored). An app that appears or leaves makes none.
func accessEvents(settled map[string]bool, next []localapi.App) []localapi.Event {
	var evs []localapi.Event
	for _, a := range next {
		allowed, listed := settled[a.Name]
		switch {
		case !listed || allowed == a.Allowed:
		case allowed:
			evs = append(evs, localapi.Event{Kind: localapi.EventRevoked, App: a.Name, Reasons: a.Reasons})
		default:
			evs = append(evs, localapi.Event{Kind: localapi.EventRestored, App: a.Name})
		}
	}
	return evs
}

// unsettled reports whether an app's access differs from settled, or an
// app came or went.
func unsettled(settled map[string]bool, apps []localapi.App) bool {
	if len(settled) != len(apps) {
		return true
	}
	for _, a := range apps {
		if allowed, listed := settled[a.Name]; !listed || allowed != a.Allowed {
			return true
		}
	}
	return false
}

// watchTiming is how a watch stream paces itself.
type watchTiming struct {
	// keepAlive: a keep-alive line after this long without a line.
	keepAlive time.Duration
	// settle: an app's access must hold this long after it first
	// changed before an event says so (see docs/decisions.md "watch":
	// at each connection the controller's first decisions predate the
	// agent's posture, and a notification pair for that blink is noise).
	settle time.Duration
	// writeWait: how long one line may take to reach the watcher; a
	// reader that takes longer (not reading at all) loses its stream.
	writeWait time.Duration
	// after is time.After; tests fire the settle by hand.
	after func(time.Duration) <-chan time.Time
}

// defaultWatchTiming is the agent's; tests shorten it (Agent.watchTiming).
var defaultWatchTiming = watchTiming{keepAlive: localapi.DefaultWatchKeepAlive, settle: defaultWatchSettle, writeWait: 10 * time.Second}

// defaultWatchSettle is how long access must hold before an event.
const defaultWatchSettle = 400 * time.Millisecond

// watchStream sends state's snapshots to send: the first at once, then
// one each time next's channel closes and the state looks different, and
// a keep-alive after keepAlive without a line. Access events come on the
// line built when the apps' access has held for settle since it first
// changed (a bounce within it makes none). It returns when ctx ends or a
// send fails. Nothing is queued: a change that comes while a line is
// being sent is caught by the next state built.
func watchStream(ctx context.Context, next func() <-chan struct{}, state func() localapi.Update,
	timing watchTiming, send func(localapi.Update) error) error {
	if timing.after == nil {
		timing.after = time.After
	}
	changed := next()
	u := state()
	u.KeepAliveMS = timing.keepAlive.Milliseconds()
	if err := send(u); err != nil {
		return err
	}
	lastKey := watchKey(u)
	// settled is the access events were last computed against, from
	// the first state on.
	settled := allowedByApp(u.Apps)
	var settling <-chan time.Time
	idle := time.NewTimer(timing.keepAlive)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-idle.C:
			if err := send(localapi.Update{Type: localapi.UpdateKeepAlive}); err != nil {
				return err
			}
			idle.Reset(timing.keepAlive)
			continue
		case <-settling:
			settling = nil
			u = state()
			u.Events = accessEvents(settled, u.Apps)
			settled = allowedByApp(u.Apps)
		case <-changed:
			changed = next() // before the state is built: no change is missed
			u = state()
			if settling == nil && unsettled(settled, u.Apps) {
				settling = timing.after(timing.settle)
			}
		}
		key := watchKey(u)
		if len(u.Events) == 0 && bytes.Equal(key, lastKey) {
			continue
		}
		if err := send(u); err != nil {
			return err
		}
		lastKey = key
		idle.Reset(timing.keepAlive)
	}
}

// serveWatch is the local API's GET /v1/watch: newline-delimited JSON
// updates until the caller goes or the agent stops.
func (a *Agent) serveWatch(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	runCtx, timing := a.runCtx, a.watchTiming
	a.mu.Unlock()
	if runCtx == nil {
		http.Error(w, "the agent is not running", http.StatusServiceUnavailable)
		return
	}
	uid := callerUID(r.Context())
	if !a.watch.admit(uid) {
		http.Error(w, fmt.Sprintf("you already have %d watch streams open on this agent; close one (a tray or `gatehouse status --watch`) first",
			maxWatchersPerCaller), http.StatusTooManyRequests)
		return
	}
	defer a.watch.leave(uid)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(runCtx, cancel)
	defer stop()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	watchStream(ctx, a.watch.next, a.watchState, timing, func(u localapi.Update) error {
		if err := rc.SetWriteDeadline(time.Now().Add(timing.writeWait)); err != nil {
			return err
		}
		if err := enc.Encode(u); err != nil {
			return err
		}
		return rc.Flush()
	})
}
