package controller

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/grants"
	"github.com/gatehouse-ztna/gatehouse/controller/policy"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
	"github.com/gatehouse-ztna/gatehouse/tunnel"
	"github.com/gatehouse-ztna/gatehouse/wire"
)

const sendQueue = 64

// agentLink is one authenticated agent websocket.
type agentLink struct {
	device, user string
	conn         *wire.Conn
	out          chan api.Envelope
	done         chan struct{}
	once         sync.Once
	why          string // set once, before done is closed
	retired      bool   // under Controller.mu: the device is being forgotten; no grant may finish for it

	// Decisions are state, not events: only the latest set matters, so a
	// set waiting to be written is replaced by a newer one rather than
	// queued behind it, and a burst of changes never fills out.
	decMu      sync.Mutex     // guards decPending and decSeq
	decPending []api.Envelope // the pages of the set to write next; nil when none
	decSeq     uint64         // the controller's number of the newest set taken
	decReady   chan struct{}  // holds one signal when decPending is set

	limits         linkLimits
	warnedOverride bool // read loop only
	log            *slog.Logger
}

// send queues a message; a link that cannot keep up is closed rather
// than allowed to stall the controller.
func (s *agentLink) send(typ string, data any) {
	if !s.enqueue(typ, data) {
		s.close("agent is not reading its messages")
	}
}

// trySend queues a message unless the queue is full: for answers to
// messages over a link's limits, which must not turn a flood into a
// disconnect.
func (s *agentLink) trySend(typ string, data any) {
	s.enqueue(typ, data)
}

// enqueue queues a message; false when the queue is full.
func (s *agentLink) enqueue(typ string, data any) bool {
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
func (s *agentLink) setDecisions(seq uint64, pages []api.Envelope) {
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

// takeDecisions returns the set waiting to be written, if any.
func (s *agentLink) takeDecisions() []api.Envelope {
	s.decMu.Lock()
	defer s.decMu.Unlock()
	pages := s.decPending
	s.decPending = nil
	return pages
}

func (s *agentLink) sendError(code, msg string) {
	s.send(api.TypeError, api.ErrorMsg{Code: code, Message: msg})
}

// close ends the link. It returns at once: the write loop does the
// closing handshake, so a stuck agent never holds up anyone else.
func (s *agentLink) close(why string) {
	s.once.Do(func() {
		s.why = why
		close(s.done)
	})
}

// writeLoop owns the connection's writes and its closing: it sends queued
// messages, the latest decision set and pings until the link is
// closed, then closes the socket with the reason. Queued messages go
// before a decision set that is waiting, so welcome is always first.
func (s *agentLink) writeLoop(ctx context.Context, cfg Config) {
	ping := time.NewTicker(cfg.PingInterval)
	defer ping.Stop()
	defer func() { s.conn.Close(websocket.StatusPolicyViolation, s.why) }()
	write := func(envs ...api.Envelope) bool {
		for _, env := range envs {
			if err := s.conn.WriteEnvelope(ctx, env, cfg.WriteTimeout); err != nil {
				// A timed-out write also ends the read loop, which may
				// close the link first: say why here.
				s.log.Warn("write to agent failed; closing its link", "device", s.device, "timeout", cfg.WriteTimeout, "err", err)
				s.close("write failed: the agent is not reading its messages")
				return false
			}
		}
		return true
	}
	for {
		select {
		case env := <-s.out:
			if !write(env) {
				return
			}
			continue
		default:
		}
		select {
		case <-s.done:
			return
		case env := <-s.out:
			if !write(env) {
				return
			}
		case <-s.decReady:
			if !write(s.takeDecisions()...) {
				return
			}
		case <-ping.C:
			// Ping waits for the pong, which the read loop receives.
			pctx, cancel := context.WithTimeout(ctx, cfg.PingTimeout)
			err := s.conn.Ping(pctx)
			cancel()
			if err != nil {
				s.close("agent stopped answering pings")
				return
			}
		}
	}
}

// handleAgent runs one agent link: nonce, proof of the device key, then
// messages until either side goes away.
func (c *Controller) handleAgent(w http.ResponseWriter, r *http.Request) {
	c.linkW.Add(1)
	defer c.linkW.Done()
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		c.log.Warn("agent websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	conn := wire.NewConn(ws, "agent") // reads held to api.MaxMessageBytes
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()

	s, err := c.authenticate(ctx, conn, r.TLS)
	if err != nil {
		// The error quotes what the unauthenticated client sent (its device
		// ID): clipped, so a 64 KiB frame cannot grow the log by 64 KiB.
		c.log.Warn("agent link refused", "remote", r.RemoteAddr, "err", clip(err.Error()))
		conn.Write(ctx, api.TypeError, api.ErrorMsg{Code: api.CodeUnauthorized, Message: clip(err.Error())})
		conn.Close(websocket.StatusPolicyViolation, err.Error())
		return
	}
	c.mu.Lock()
	tunnels := c.grants.Keys(s.device)
	// Welcome is queued first, before the link can be found and sent
	// anything else.
	s.send(api.TypeWelcome, api.WelcomeMsg{User: s.user, HeartbeatInterval: api.Duration(c.cfg.HeartbeatInterval),
		Query: c.snap.Query(), Tunnels: tunnels})
	old := c.links[s.device]
	c.links[s.device] = s
	c.mu.Unlock()
	if old != nil {
		old.close("replaced by a newer link of the same device")
	}
	// The device may have been deleted between the proof and now.
	if _, err := c.store.GetDevice(ctx, s.device); err != nil {
		msg := "controller error; the agent will retry"
		if errors.Is(err, store.ErrNotFound) {
			c.forgetDevices(ctx, []string{s.device}, nil)
			msg = "this device was removed by an admin: enroll again"
		} else {
			c.log.Error("look up device of a new link", "device", s.device, "err", err)
			c.mu.Lock()
			if c.links[s.device] == s {
				delete(c.links, s.device)
			}
			c.mu.Unlock()
		}
		conn.Write(ctx, api.TypeError, api.ErrorMsg{Code: api.CodeUnauthorized, Message: msg})
		conn.Close(websocket.StatusPolicyViolation, msg)
		return
	}
	c.log.Info("agent connected", "device", s.device, "user", s.user, "remote", r.RemoteAddr)
	writer := make(chan struct{})
	go func() {
		defer close(writer)
		s.writeLoop(ctx, c.cfg)
	}()
	decider := make(chan struct{})
	go func() {
		defer close(decider)
		s.limits.posture.Run(s.done, func() { c.redecideDevice(ctx, s) })
	}()
	forgotten := make(chan struct{})
	go func() {
		// A link is over once it is closed, though the closing
		// handshake with a silent agent takes seconds: it gets nothing
		// more, renews nothing, and the device shows offline at once.
		defer close(forgotten)
		<-s.done
		c.mu.Lock()
		if c.links[s.device] == s {
			delete(c.links, s.device)
		}
		c.mu.Unlock()
		c.log.Info("agent link closed", "device", s.device, "reason", s.why)
	}()
	c.sendDecisions(s)

	c.readLoop(ctx, s)

	s.close("link ended")
	<-writer
	<-decider
	<-forgotten
	c.log.Info("agent disconnected", "device", s.device, "user", s.user)
}

// authenticate sends a nonce and checks the device's signature over the
// link proof: the nonce bound to this TLS connection and the device ID.
func (c *Controller) authenticate(ctx context.Context, conn *wire.Conn, cs *tls.ConnectionState) (*agentLink, error) {
	exporter, err := api.AuthExporter(cs)
	if err != nil {
		return nil, err
	}
	hello, nonce, err := wire.NewHello()
	if err != nil {
		return nil, err
	}
	if err := conn.Write(ctx, api.TypeHello, hello); err != nil {
		return nil, err
	}
	// Not ReadOne: the agent's error message, or anything else, in place
	// of auth is refused with the same words as any other type.
	actx, cancel := context.WithTimeout(ctx, wire.ReadOneTimeout)
	defer cancel()
	env, err := conn.Read(actx)
	if errors.Is(err, wire.ErrMalformed) {
		return nil, fmt.Errorf("malformed auth message: %w", err)
	} else if err != nil {
		return nil, fmt.Errorf("no auth message: %w", err)
	}
	var auth api.AuthMsg
	if env.Type != api.TypeAuth {
		return nil, fmt.Errorf("expected an auth message first, got %q", env.Type)
	}
	if err := env.Decode(&auth); err != nil {
		return nil, err
	}
	dev, err := c.store.GetDevice(ctx, auth.DeviceID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("unknown device %q: enroll again with `gatehouse-agent enroll`", auth.DeviceID)
	} else if err != nil {
		return nil, fmt.Errorf("look up device: %w", err)
	}
	if err := wire.VerifyProof(dev.PublicKey, exporter, nonce, auth); err != nil {
		return nil, err
	}
	return &agentLink{device: dev.ID, user: dev.User, conn: conn, out: make(chan api.Envelope, sendQueue),
		done: make(chan struct{}), decReady: make(chan struct{}, 1), limits: newLinkLimits(c.cfg, c.clock), log: c.log}, nil
}

func (c *Controller) readLoop(ctx context.Context, s *agentLink) {
	for {
		env, err := s.conn.Read(ctx)
		if errors.Is(err, wire.ErrMalformed) {
			c.log.Warn("malformed message from agent", "device", s.device, "err", err)
			s.sendError(api.CodeMalformed, fmt.Sprintf("message is not valid JSON: %v", err))
			continue
		}
		if err != nil {
			switch {
			case errors.Is(err, websocket.ErrMessageTooBig):
				c.log.Warn("agent sent an oversized message; connection closed", "device", s.device, "limit", api.MaxMessageBytes)
			case websocket.CloseStatus(err) == -1 && ctx.Err() == nil:
				c.log.Info("agent connection ended", "device", s.device, "err", err)
			}
			return
		}
		if err := c.dispatch(ctx, s, env); err != nil {
			c.log.Warn("rejected message from agent", "device", s.device, "type", env.Type, "err", err)
			s.sendError(api.CodeBadRequest, err.Error())
		}
	}
}

func (c *Controller) dispatch(ctx context.Context, s *agentLink, env api.Envelope) error {
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
			c.rateLimited(s, fmt.Sprintf("posture reports arrive faster than %.0f a second: the controller decides only the latest, every %s",
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
			c.rateLimited(s, msg)
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
	default:
		return fmt.Errorf("unknown message type %q", env.Type)
	}
	return nil
}

// rateLimited tells the agent, at most once a second, that it sent more
// than its link allows; the link stays up.
func (c *Controller) rateLimited(s *agentLink, msg string) {
	if s.limits.notice.AllowN(c.clock.Now(), 1) {
		c.log.Warn("agent over its link's rate limit", "device", s.device, "limit", msg)
		s.trySend(api.TypeError, api.ErrorMsg{Code: api.CodeRateLimited, Message: msg + "; slow down"})
	}
}

// sendDecisions gives the agent the current decision for every app its
// user is entitled to (and for the apps it asked for) and the results of
// its posture checks, in pages that each fit in a message.
func (c *Controller) sendDecisions(s *agentLink) {
	now := time.Now()
	c.mu.Lock()
	rep := c.postureLocked(s.device, now)
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
	msg := api.DecisionsMsg{Apps: apps, Decisions: c.snap.DecideAll(s.user, rep, names, now),
		Checks: c.snap.Checks(s.user, rep), Query: c.snap.Query()}
	c.decisionSeq++
	seq := c.decisionSeq
	c.mu.Unlock()
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
		out = append(out, api.AppInfo{Name: n, Ports: grants.AppPorts(snap.Apps[n])})
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
