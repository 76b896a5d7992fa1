package controller

import (
	"context"
	"slices"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/grants"
	"github.com/gatehouse-ztna/gatehouse/controller/ipam"
	"github.com/gatehouse-ztna/gatehouse/controller/policy"
)

// The controller's side of the grant lifecycle: controller/grants owns the
// grants; the controller gives it the policy (grantPolicy), which devices
// are connected (linkPresence), the link a request came on (grantLink)
// and the gateways, and pushes its renewals and revocations to agents
// from its events (pushToAgent).

// newGrants makes the grant manager for c, with c's agents subscribed to
// its events.
func newGrants(c *Controller, overlays ipam.Allocator) *grants.Manager {
	m := grants.New(grants.Config{Lease: c.cfg.LeaseTTL, Clock: grants.SystemClock{}, Policy: grantPolicy{c},
		Presence: linkPresence{c}, Overlays: overlays, Logger: c.log.With("component", "grants"), NextEdge: c.nextEdge})
	m.Subscribe(c.pushToAgent)
	return m
}

// pushToAgent sends a grant's renewal or revocation to its device's agent
// on the current link, if it has one. It runs synchronously inside the
// Manager (see grants.Manager.Subscribe): the revoke is queued before the
// peer is removed and before any later grant of the app is sent.
func (c *Controller) pushToAgent(e grants.Event) {
	typ, msg, ok := agentMessage(e)
	if !ok {
		return
	}
	if s := c.link(e.Device); s != nil {
		s.send(typ, msg)
	}
}

// agentMessage is what the agent hears of e, if anything: grants and
// denials go as answers on the link that asked, releases came from the
// agent, and a move changes nothing on its side.
func agentMessage(e grants.Event) (typ string, msg any, ok bool) {
	switch e.Kind {
	case grants.Renewed:
		return api.TypeRenew, api.Renewal{App: e.App, PublicKey: e.PublicKey, Lease: api.Duration(e.Lease)}, true
	case grants.Revoked, grants.Expired:
		return api.TypeRevoke, api.Revocation{App: e.App, PublicKey: e.PublicKey, Reasons: e.Reasons}, true
	}
	return "", nil, false
}

// postureLocked is the device's latest report, or nil when there is none
// or it is too old to trust: an agent that stopped reporting fails closed.
func (c *Controller) postureLocked(device string, now time.Time) *api.PostureReport {
	p, ok := c.posture[device]
	if !ok || now.Sub(p.at) > 3*c.cfg.HeartbeatInterval+2*time.Second {
		return nil
	}
	return p.report
}

func (c *Controller) decideLocked(user, device, app string, now time.Time) api.Decision {
	var engine policy.Engine = c.snap
	return engine.Evaluate(c.inputLocked(user, device, app, now))
}

// nextEdge is when user's device's decision on app may next change with
// the time alone (policy.Snapshot.NextEdge).
func (c *Controller) nextEdge(user, device, app string, now time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snap.NextEdge(c.inputLocked(user, device, app, now))
}

// grantPolicy is the policy as the grant manager asks it.
type grantPolicy struct{ c *Controller }

var _ grants.Policy = grantPolicy{}

func (p grantPolicy) Decide(user, device, app string, now time.Time) api.Decision {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	return p.c.decideLocked(user, device, app, now)
}

func (p grantPolicy) App(name string) (api.App, bool) {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	a, ok := p.c.snap.Apps[name]
	return a, ok
}

// linkPresence says which devices have an agent link now.
type linkPresence struct{ c *Controller }

var _ grants.Presence = linkPresence{}

func (p linkPresence) Connected(device string) bool {
	return p.c.link(device) != nil
}

// grantLink is the link a grant request came on.
type grantLink struct {
	c *Controller
	s *AgentLink
}

var _ grants.Link = grantLink{}

func (l grantLink) Send(typ string, msg any) { l.s.send(typ, msg) }

func (l grantLink) Current() bool {
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	return l.c.links[l.s.device] == l.s && !l.s.retired
}

// requestGrant hands an agent's grant request to the grant manager; the
// error is for a request that is itself wrong.
func (c *Controller) requestGrant(ctx context.Context, s *AgentLink, req api.GrantRequest) error {
	c.mu.Lock()
	if c.noteAskedLocked(s.device, s.user, req.App) {
		// A decision set computed before now lacks this app: send a new
		// one after the answer.
		defer s.limits.posture.Kick()
	}
	c.mu.Unlock()
	return c.grants.Request(ctx, grants.Request{Device: s.device, User: s.user, App: req.App, PublicKey: req.PublicKey}, grantLink{c, s})
}

// maxAsked bounds how many asked-for app names the controller keeps per
// device.
const maxAsked = 64

// noteAskedLocked records that device (of user) asked for app, and
// reports whether the device's decision sets did not name it until now.
func (c *Controller) noteAskedLocked(device, user, app string) bool {
	if c.asked == nil {
		c.asked = map[string][]string{}
	}
	names := c.asked[device]
	if i := slices.Index(names, app); i >= 0 {
		c.asked[device] = append(slices.Delete(names, i, i+1), app)
		return false
	}
	if len(names) >= maxAsked {
		names = slices.Delete(names, 0, 1)
	}
	c.asked[device] = append(names, app)
	return !c.snap.Entitles(user, app)
}

// redecideDevice re-decides one device's live grants after its posture
// changed, and refreshes its agent's view of its decisions.
func (c *Controller) redecideDevice(ctx context.Context, s *AgentLink) {
	c.grants.Reevaluate(ctx, s.device)
	c.sendDecisions(s)
}

// redecideAll re-decides every live grant after an admin change, and
// refreshes every agent's view of its decisions.
func (c *Controller) redecideAll(ctx context.Context) {
	c.grants.ReevaluateAll(ctx)
	c.mu.Lock()
	links := make([]*AgentLink, 0, len(c.links))
	for _, s := range c.links {
		links = append(links, s)
	}
	c.mu.Unlock()
	for _, s := range links {
		c.sendDecisions(s)
	}
}

// renewLoop extends every lease that still passes, a third of a lease
// before it would end.
func (c *Controller) renewLoop(ctx context.Context) {
	every := max(c.cfg.LeaseTTL/3, 50*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.renewAll(ctx)
		}
	}
}

func (c *Controller) renewAll(ctx context.Context) {
	if c.policyStale.Load() {
		c.adminMu.Lock()
		err := c.reload(ctx)
		c.adminMu.Unlock()
		if err != nil {
			// Decisions would come from an old snapshot: renew nothing,
			// and let leases end.
			c.log.Error("policy still not reloaded; renewing no grant", "err", err)
			c.grants.ExpireDue(ctx)
			return
		}
		c.policyStale.Store(false)
	}
	c.grants.ReevaluateAll(ctx) // also catches posture that went stale
	c.grants.RenewAll(ctx)
}

func (c *Controller) link(device string) *AgentLink {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.links[device]
}
