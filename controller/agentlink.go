package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/grants"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
	"github.com/gatehouse-ztna/gatehouse/controller/policy"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
	"github.com/gatehouse-ztna/gatehouse/tunnel"
	"github.com/gatehouse-ztna/gatehouse/wire"
)

// The core's side of agent links: who is linked, what each link is sent
// (its queue and its latest decision set) and what its messages do. The
// transport (controller/httpapi) upgrades the websocket, runs the
// handshake through AuthenticateAgent and AttachAgent, and then pumps:
// it writes what Outbox and TakeDecisions give and hands every message
// read to AgentMessage.

const sendQueue = 64

// AgentLink is one authenticated agent's control connection, as the core
// holds it.
type AgentLink struct {
	device, user string
	out          chan api.Envelope
	done         chan struct{}
	once         sync.Once
	why          string // set once, before done is closed
	retired      bool   // under Controller.mu: the device is being forgotten; no grant may finish for it
	// ident is the identity the link was authenticated with (its session,
	// if it presented an access token); AttachAgent makes it the device's.
	ident        *deviceIdent
	presented    identity.Session // the session ident.session was opened from
	presentedTok string           // its access token

	// Decisions are state, not events: only the latest set matters, so a
	// set waiting to be written is replaced by a newer one rather than
	// queued behind it, and a burst of changes never fills out.
	decMu      sync.Mutex     // guards decPending and decSeq
	decPending []api.Envelope // the pages of the set to write next; nil when none
	decSeq     uint64         // the controller's number of the newest set taken
	decReady   chan struct{}  // holds one signal when decPending is set

	limits         linkLimits
	clock          clock
	warnedOverride bool          // read loop only
	ended          chan struct{} // closed when the core's goroutines of the link have ended
	log            *slog.Logger
}

// Device is the link's device ID; User its user.
func (s *AgentLink) Device() string { return s.device }

// User is the user the link's device is enrolled to.
func (s *AgentLink) User() string { return s.user }

// SetSource records the link's remote address ("host:port", as
// http.Request.RemoteAddr) for conditions on request.source_ip. Call it
// before AttachAgent; an address that does not parse stays unknown (and
// such a condition denies).
func (s *AgentLink) SetSource(remoteAddr string) {
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		s.ident.source = ap.Addr().Unmap()
	}
}

// Outbox holds the messages to write, in order; they go before a waiting
// decision set.
func (s *AgentLink) Outbox() <-chan api.Envelope { return s.out }

// DecisionsReady signals that TakeDecisions has a set to write.
func (s *AgentLink) DecisionsReady() <-chan struct{} { return s.decReady }

// Done is closed when the link is closed; Why then says why.
func (s *AgentLink) Done() <-chan struct{} { return s.done }

// Why is the reason the link was closed; read it after Done.
func (s *AgentLink) Why() string { return s.why }

// Wait returns once the core is done with a link AttachAgent attached and
// that has since been closed.
func (s *AgentLink) Wait() { <-s.ended }

// send queues a message; a link that cannot keep up is closed rather
// than allowed to stall the controller.
func (s *AgentLink) send(typ string, data any) {
	if !s.enqueue(typ, data) {
		s.Close("agent is not reading its messages")
	}
}

// trySend queues a message unless the queue is full: for answers to
// messages over a link's limits, which must not turn a flood into a
// disconnect.
func (s *AgentLink) trySend(typ string, data any) {
	s.enqueue(typ, data)
}

// enqueue queues a message; false when the queue is full.
func (s *AgentLink) enqueue(typ string, data any) bool {
	env, err := api.NewEnvelope(typ, data)
	if err != nil {
		s.log.Warn("encode message", "type", typ, "err", err)
		return true
	}
	select {
	case s.out <- env:
	case <-s.done:
	default:
		return false
	}
	return true
}

// setDecisions makes pages, the decision set numbered seq, the next set to
// write, unless a newer set was already taken.
func (s *AgentLink) setDecisions(seq uint64, pages []api.Envelope) {
	s.decMu.Lock()
	defer s.decMu.Unlock()
	if seq < s.decSeq {
		return
	}
	s.decSeq, s.decPending = seq, pages
	select {
	case s.decReady <- struct{}{}:
	default:
	}
}

// TakeDecisions returns the set waiting to be written, if any.
func (s *AgentLink) TakeDecisions() []api.Envelope {
	s.decMu.Lock()
	defer s.decMu.Unlock()
	pages := s.decPending
	s.decPending = nil
	return pages
}

// SendError queues an error message for the agent.
func (s *AgentLink) SendError(code, msg string) {
	s.send(api.TypeError, api.ErrorMsg{Code: code, Message: msg})
}

// Close ends the link. It returns at once: the transport's writer does
// the closing handshake, so a stuck agent never holds up anyone else.
func (s *AgentLink) Close(why string) {
	s.once.Do(func() {
		s.why = why
		close(s.done)
	})
}

// rateLimited tells the agent, at most once a second, that it sent more
// than its link allows; the link stays up.
func (s *AgentLink) rateLimited(msg string) {
	if s.limits.notice.AllowN(s.clock.Now(), 1) {
		s.log.Warn("agent over its link's rate limit", "device", s.device, "limit", msg)
		s.trySend(api.TypeError, api.ErrorMsg{Code: api.CodeRateLimited, Message: msg + "; slow down"})
	}
}

// sessionLimited reports whether a refresh or logout message is over the
// link's limit, and then tells the agent (the message is ignored; the
// link stays up).
func (s *AgentLink) sessionLimited() bool {
	if s.limits.sessionRate.AllowN(s.clock.Now(), 1) {
		return false
	}
	s.rateLimited("refresh and logout messages arrive faster than one a second: ignored")
	return true
}

// AuthenticateAgent checks an agent's proof: auth signed with its
// device's enrolled key over the nonce the transport sent and the TLS
// exporter of its connection (nil on plain HTTP). The link it returns is
// not attached yet.
func (c *Controller) AuthenticateAgent(ctx context.Context, auth api.AuthMsg, exporter, nonce []byte) (*AgentLink, error) {
	dev, err := c.store.GetDevice(ctx, auth.DeviceID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("unknown device %q: enroll again with `gatehouse-agent enroll`", auth.DeviceID)
	} else if err != nil {
		return nil, fmt.Errorf("look up device: %w", err)
	}
	if err := wire.VerifyProof(dev.PublicKey, exporter, nonce, auth); err != nil {
		return nil, err
	}
	// Only after the key proof: a token is bound to its device, and a
	// token presented by another device ends its session.
	var sess identity.Session
	if auth.AccessToken != "" {
		if sess, err = c.openSession(ctx, auth.AccessToken, dev.ID, dev.User); err != nil {
			return nil, err
		}
	}
	facts := c.readIdent(ctx, dev.ID, dev.User)
	return &AgentLink{device: dev.ID, user: dev.User, out: make(chan api.Envelope, sendQueue),
		done: make(chan struct{}), decReady: make(chan struct{}, 1), limits: newLinkLimits(c.cfg, c.clock),
		clock: c.clock, ended: make(chan struct{}), log: c.log,
		ident: &facts, presented: sess, presentedTok: auth.AccessToken}, nil
}

// AttachAgent makes s its device's link (a previous one is closed), queues
// the welcome and the first decision set, and runs the link's posture
// re-decisions until it is closed (Wait waits for them). An error says,
// for the agent, why the link was refused: the device was deleted
// meanwhile, or the store failed.
func (c *Controller) AttachAgent(ctx context.Context, s *AgentLink) error {
	c.mu.Lock()
	tunnels := c.grants.Keys(s.device)
	if old := c.idents[s.device]; old != nil && old.session != nil && old.session.lapse != nil {
		old.session.lapse.Stop()
	}
	c.idents[s.device] = s.ident
	if s.presented.ID != "" {
		c.installSessionLocked(s.device, s.ident, s.presented, s.presentedTok)
		s.presentedTok = ""
	}
	// Welcome is queued first, before the link can be found and sent
	// anything else.
	s.send(api.TypeWelcome, api.WelcomeMsg{User: s.user, HeartbeatInterval: api.Duration(c.cfg.HeartbeatInterval),
		Query: c.snap.Query(), Tunnels: tunnels, Session: sessionInfo(s.ident)})
	old := c.links[s.device]
	c.links[s.device] = s
	c.mu.Unlock()
	if old != nil {
		old.Close("replaced by a newer link of the same device")
	}
	// The device may have been deleted between the proof and now.
	if _, err := c.store.GetDevice(ctx, s.device); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			c.forgetDevices(ctx, []string{s.device}, nil)
			return errors.New("this device was removed by an admin: enroll again")
		}
		c.log.Error("look up device of a new link", "device", s.device, "err", err)
		c.mu.Lock()
		if c.links[s.device] == s {
			delete(c.links, s.device)
		}
		c.mu.Unlock()
		return errors.New("controller error; the agent will retry")
	}
	// An identity change between the proof and now (a session revoked,
	// the device blocked) reached no one: read the facts again.
	c.reloadIdent(ctx, s.device)
	c.grants.Reevaluate(ctx, s.device)
	decider := make(chan struct{})
	go func() {
		defer close(decider)
		s.limits.posture.Run(s.done, func() { c.redecideDevice(ctx, s) })
	}()
	go func() {
		// A link is over once it is closed, though the closing
		// handshake with a silent agent takes seconds: it gets nothing
		// more, renews nothing, and the device shows offline at once.
		defer close(s.ended)
		<-s.done
		c.mu.Lock()
		if c.links[s.device] == s {
			delete(c.links, s.device)
		}
		c.mu.Unlock()
		c.log.Info("agent link closed", "device", s.device, "reason", s.why)
		<-decider
	}()
	c.sendDecisions(s)
	return nil
}

// AgentMessage acts on one message an agent sent on s; the error is for a
// message that is itself wrong (the transport tells the agent).
func (c *Controller) AgentMessage(ctx context.Context, s *AgentLink, env api.Envelope) error {
	switch env.Type {
	case api.TypePosture:
		var rep api.PostureReport
		if err := env.Decode(&rep); err != nil {
			return err
		}
		if len(rep.Overridden) > 0 && !c.cfg.TrustPostureOverrides {
			if !s.warnedOverride {
				c.log.Warn("agent reports overridden posture facts; treating them as unknown (start the controller with --trust-posture-overrides only for development)",
					"device", s.device, "facts", rep.Overridden)
				s.warnedOverride = true
			}
			rep.MarkUnknown(rep.Overridden)
		}
		// Stored at once, so a grant request read next is decided on it;
		// re-deciding the live grants is coalesced over a burst.
		c.mu.Lock()
		c.posture[s.device] = postureEntry{report: &rep, at: time.Now()}
		c.mu.Unlock()
		s.limits.posture.Kick()
		if !s.limits.postureRate.AllowN(c.clock.Now(), 1) {
			s.rateLimited(fmt.Sprintf("posture reports arrive faster than %.0f a second: the controller decides only the latest, every %s",
				float64(s.limits.postureRate.Limit()), c.cfg.PostureDecideInterval))
		}
	case api.TypeGrantRequest:
		var req api.GrantRequest
		if err := env.Decode(&req); err != nil {
			return err
		}
		if !s.limits.grantRate.AllowN(c.clock.Now(), 1) {
			msg := fmt.Sprintf("grant request for %q refused: more than %g grant requests a second from this device", req.App, c.cfg.GrantRequestRate)
			s.trySend(api.TypeDeny, api.Denial{App: req.App, PublicKey: req.PublicKey, Reasons: []api.Reason{{Code: api.CodeRateLimited,
				Message: msg, Remediation: "Try again in a moment"}}})
			s.rateLimited(msg)
			return nil
		}
		pub, err := tunnel.ParsePublicKey(req.PublicKey)
		if err != nil {
			err = fmt.Errorf("grant request for %q: %w", req.App, err)
			s.send(api.TypeDeny, api.Denial{App: req.App, PublicKey: req.PublicKey, Reasons: []api.Reason{{Code: api.CodeBadRequest,
				Message: err.Error(), Remediation: "Update the Gatehouse agent"}}})
			return err
		}
		req.PublicKey = pub.String() // one spelling per key from here on
		return c.requestGrant(ctx, s, req)
	case api.TypeRelease:
		var rel api.Release
		if err := env.Decode(&rel); err != nil {
			return err
		}
		pub, err := tunnel.ParsePublicKey(rel.PublicKey)
		if err != nil {
			return fmt.Errorf("release of %q: %w", rel.App, err)
		}
		rel.PublicKey = pub.String()
		c.grants.Release(ctx, s.device, rel.App, rel.PublicKey)
	case api.TypeAccessRequest:
		var msg api.AccessRequestMsg
		if err := env.Decode(&msg); err != nil {
			return err
		}
		c.accessRequest(ctx, s, msg)
	case api.TypeRefresh:
		var msg api.RefreshMsg
		if err := env.Decode(&msg); err != nil {
			return err
		}
		if s.sessionLimited() {
			return nil
		}
		c.refresh(ctx, s, msg)
	case api.TypeLogout:
		var msg api.LogoutMsg
		if err := env.Decode(&msg); err != nil {
			return err
		}
		if s.sessionLimited() {
			return nil
		}
		c.logout(ctx, s)
	default:
		return fmt.Errorf("unknown message type %q", env.Type)
	}
	return nil
}

// DisconnectAgents closes every agent link, saying why.
func (c *Controller) DisconnectAgents(why string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.links {
		s.Close(why)
	}
}

// forgetDevices drops the hot state of devices that are gone from the
// store: their links end and their grants are revoked with reasons.
func (c *Controller) forgetDevices(ctx context.Context, ids []string, reasons []api.Reason) {
	// Retired first: a grant request in flight on these links is not
	// kept; the links stay findable until the revocations reach them.
	c.mu.Lock()
	for _, id := range ids {
		if s := c.links[id]; s != nil {
			s.retired = true
		}
		delete(c.posture, id)
		delete(c.asked, id)
		if di := c.idents[id]; di != nil && di.session != nil && di.session.lapse != nil {
			di.session.lapse.Stop()
		}
		delete(c.idents, id)
	}
	c.mu.Unlock()
	for _, id := range ids {
		c.grants.RevokeDevice(ctx, id, reasons)
	}
	var links []*AgentLink
	c.mu.Lock()
	for _, id := range ids {
		if s := c.links[id]; s != nil {
			delete(c.links, id)
			links = append(links, s)
		}
	}
	c.mu.Unlock()
	for _, s := range links {
		s.Close("device removed by an admin")
	}
}

// liveDevices fills devs' Online and Posture from the links.
func (c *Controller) liveDevices(devs []api.Device) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range devs {
		devs[i].Online = c.links[devs[i].ID] != nil
		devs[i].Posture = c.posture[devs[i].ID].report
	}
}

// sendDecisions gives the agent the current decision for every app its
// user is entitled to (and for the apps it asked for) and the results of
// its posture checks, in pages that each fit in a message.
func (c *Controller) sendDecisions(s *AgentLink) {
	now := time.Now()
	c.mu.Lock()
	entitled := c.snap.Entitled(s.user)
	apps := appInfos(c.snap, entitled)
	// Apps the agent asked for outside the user's entitlement get their
	// decision (a denial, with the reason) but no place in the app list.
	names := slices.Clone(entitled)
	for _, app := range c.asked[s.device] {
		if _, found := slices.BinarySearch(entitled, app); !found {
			names = append(names, app)
		}
	}
	in := c.inputLocked(s.user, s.device, "", now)
	msg := api.DecisionsMsg{Apps: apps, Decisions: c.snap.DecideAll(in, names),
		Checks: c.snap.WaiveChecks(s.user, s.device, now, c.snap.ChecksFor(in)), Query: c.snap.Query(), Domain: c.cfg.DNSDomain}
	edge := c.snap.DecisionsEdge(in, names)
	c.decisionSeq++
	seq := c.decisionSeq
	c.mu.Unlock()
	c.noteDecisionEdge(s.device, edge)
	pages, tooBig := api.SplitDecisions(msg, api.MaxMessageBytes)
	if len(tooBig) > 0 {
		c.log.Error("decisions too large for a message left out; make the app smaller", "device", s.device, "left_out", tooBig)
	}
	envs := make([]api.Envelope, 0, len(pages))
	for _, p := range pages {
		envs = append(envs, mustEnvelope(api.TypeDecisions, p))
	}
	s.setDecisions(seq, envs)
}

// DecisionSets is how many decision sets the controller has computed for
// agent links since it started (one per affected link for every
// posture re-decision and admin change): a measure of its decision load.
func (c *Controller) DecisionSets() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.decisionSeq
}

func appInfos(snap *policy.Snapshot, names []string) []api.AppInfo {
	out := make([]api.AppInfo, 0, len(names))
	for _, n := range names {
		out = append(out, api.AppInfo{Name: n, Ports: grants.AppPorts(snap.Apps[n]), VirtualIP: snap.Apps[n].VirtualIP})
	}
	return out
}

func mustEnvelope(typ string, data any) api.Envelope {
	env, err := api.NewEnvelope(typ, data)
	if err != nil {
		panic(err) // only fixed, encodable types reach here
	}
	return env
}
