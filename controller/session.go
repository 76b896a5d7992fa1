package controller

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/policy"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
	"github.com/gatehouse-ztna/gatehouse/tunnel"
)

const (
	authTimeout  = 10 * time.Second
	writeTimeout = 5 * time.Second
	pingInterval = 15 * time.Second
	sendQueue    = 64
)

// session is one authenticated agent websocket.
type session struct {
	device, user string
	conn         *websocket.Conn
	out          chan api.Envelope
	done         chan struct{}
	once         sync.Once
	why          string // set once, before done is closed

	warnedOverride bool // read loop only
	log            *slog.Logger
}

// send queues a message; a session that cannot keep up is closed rather
// than allowed to stall the controller.
func (s *session) send(typ string, data any) {
	env, err := api.NewEnvelope(typ, data)
	if err != nil {
		s.log.Warn("encode message", "type", typ, "err", err)
		return
	}
	select {
	case s.out <- env:
	case <-s.done:
	default:
		s.close("agent is not reading its messages")
	}
}

func (s *session) sendError(code, msg string) {
	s.send(api.TypeError, api.ErrorMsg{Code: code, Message: msg})
}

// close ends the session. It returns at once: the write loop does the
// closing handshake, so a stuck agent never holds up anyone else.
func (s *session) close(why string) {
	s.once.Do(func() {
		s.why = why
		close(s.done)
	})
}

// writeLoop owns the connection's writes and its closing: it sends queued
// messages and pings until the session is closed, then closes the socket
// with the reason.
func (s *session) writeLoop(ctx context.Context) {
	ping := time.NewTicker(pingInterval)
	defer ping.Stop()
	defer func() { s.conn.Close(websocket.StatusPolicyViolation, s.why) }()
	for {
		select {
		case <-s.done:
			return
		case env := <-s.out:
			if err := writeJSON(ctx, s.conn, env); err != nil {
				s.close("write failed")
				return
			}
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, writeTimeout)
			err := s.conn.Ping(pctx)
			cancel()
			if err != nil {
				s.close("agent stopped answering pings")
				return
			}
		}
	}
}

func writeJSON(ctx context.Context, conn *websocket.Conn, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return conn.Write(ctx, websocket.MessageText, b)
}

// handleAgent runs one agent session: nonce, proof of the device key, then
// messages until either side goes away.
func (c *Controller) handleAgent(w http.ResponseWriter, r *http.Request) {
	c.sessionW.Add(1)
	defer c.sessionW.Done()
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		c.log.Warn("agent websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	conn.SetReadLimit(api.MaxMessageBytes)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()

	s, err := c.authenticate(ctx, conn, r.TLS)
	if err != nil {
		c.log.Warn("agent session refused", "remote", r.RemoteAddr, "err", err)
		writeJSON(ctx, conn, mustEnvelope(api.TypeError, api.ErrorMsg{Code: "unauthorized", Message: err.Error()}))
		conn.Close(websocket.StatusPolicyViolation, truncate(err.Error(), 120))
		return
	}
	c.mu.Lock()
	var tunnels []string
	for key, g := range c.grants {
		if key.device == s.device {
			tunnels = append(tunnels, g.pub)
		}
	}
	// Welcome is queued first, before the session can be found and sent
	// anything else.
	s.send(api.TypeWelcome, api.WelcomeMsg{User: s.user, HeartbeatInterval: api.Duration(c.cfg.HeartbeatInterval),
		Query: c.snap.Query(), Tunnels: tunnels})
	old := c.sessions[s.device]
	c.sessions[s.device] = s
	c.mu.Unlock()
	if old != nil {
		old.close("replaced by a newer session of the same device")
	}
	// The device may have been deleted between the proof and now.
	if _, err := c.store.GetDevice(ctx, s.device); err != nil {
		msg := "controller error; the agent will retry"
		if errors.Is(err, store.ErrNotFound) {
			c.forgetDevices(ctx, []string{s.device}, nil)
			msg = "this device was removed by an admin: enroll again"
		} else {
			c.log.Error("look up device of a new session", "device", s.device, "err", err)
			c.mu.Lock()
			if c.sessions[s.device] == s {
				delete(c.sessions, s.device)
			}
			c.mu.Unlock()
		}
		writeJSON(ctx, conn, mustEnvelope(api.TypeError, api.ErrorMsg{Code: "unauthorized", Message: msg}))
		conn.Close(websocket.StatusPolicyViolation, msg)
		return
	}
	c.log.Info("agent connected", "device", s.device, "user", s.user, "remote", r.RemoteAddr)
	writer := make(chan struct{})
	go func() {
		defer close(writer)
		s.writeLoop(ctx)
	}()
	c.sendDecisions(s)

	c.readLoop(ctx, s)

	s.close("session ended")
	<-writer
	c.mu.Lock()
	if c.sessions[s.device] == s {
		delete(c.sessions, s.device)
	}
	c.mu.Unlock()
	c.log.Info("agent disconnected", "device", s.device, "user", s.user)
}

// authenticate sends a nonce and checks the device's signature over the
// session proof: the nonce bound to this TLS connection and the device ID.
func (c *Controller) authenticate(ctx context.Context, conn *websocket.Conn, cs *tls.ConnectionState) (*session, error) {
	exporter, err := api.AuthExporter(cs)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, 32)
	rand.Read(nonce)
	if err := writeJSON(ctx, conn, mustEnvelope(api.TypeHello, api.HelloMsg{Nonce: base64.StdEncoding.EncodeToString(nonce)})); err != nil {
		return nil, err
	}
	actx, cancel := context.WithTimeout(ctx, authTimeout)
	defer cancel()
	_, data, err := conn.Read(actx)
	if err != nil {
		return nil, fmt.Errorf("no auth message: %w", err)
	}
	var env api.Envelope
	var auth api.AuthMsg
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("malformed auth message: %w", err)
	}
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
	pub, err := base64.StdEncoding.DecodeString(dev.PublicKey)
	sig, serr := base64.StdEncoding.DecodeString(auth.Signature)
	if err != nil || serr != nil || len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, api.AuthProof(exporter, auth.DeviceID, nonce), sig) {
		return nil, fmt.Errorf("device %q: signature does not match its enrolled key", auth.DeviceID)
	}
	return &session{device: dev.ID, user: dev.User, conn: conn, out: make(chan api.Envelope, sendQueue),
		done: make(chan struct{}), log: c.log}, nil
}

func (c *Controller) readLoop(ctx context.Context, s *session) {
	for {
		_, data, err := s.conn.Read(ctx)
		if err != nil {
			switch {
			case errors.Is(err, websocket.ErrMessageTooBig):
				c.log.Warn("agent sent an oversized message; connection closed", "device", s.device, "limit", api.MaxMessageBytes)
			case websocket.CloseStatus(err) == -1 && ctx.Err() == nil:
				c.log.Info("agent connection ended", "device", s.device, "err", err)
			}
			return
		}
		var env api.Envelope
		if err := json.Unmarshal(data, &env); err != nil {
			c.log.Warn("malformed message from agent", "device", s.device, "err", err)
			s.sendError("malformed", fmt.Sprintf("message is not valid JSON: %v", err))
			continue
		}
		if err := c.dispatch(ctx, s, env); err != nil {
			c.log.Warn("rejected message from agent", "device", s.device, "type", env.Type, "err", err)
			s.sendError("bad_request", err.Error())
		}
	}
}

func (c *Controller) dispatch(ctx context.Context, s *session, env api.Envelope) error {
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
		c.mu.Lock()
		c.posture[s.device] = postureEntry{report: &rep, at: time.Now()}
		c.mu.Unlock()
		c.reevaluate(ctx, s.device, true)
	case api.TypeGrantRequest:
		var req api.GrantRequest
		if err := env.Decode(&req); err != nil {
			return err
		}
		pub, err := tunnel.ParsePublicKey(req.PublicKey)
		if err != nil {
			err = fmt.Errorf("grant request for %q: %w", req.App, err)
			s.send(api.TypeDeny, api.Denial{App: req.App, PublicKey: req.PublicKey, Reasons: []api.Reason{{Code: "bad_request",
				Message: err.Error(), Remediation: "Update the Gatehouse agent"}}})
			return err
		}
		req.PublicKey = pub.String() // one spelling per key from here on
		c.requestGrant(ctx, s, req)
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
		c.release(ctx, s.device, rel)
	default:
		return fmt.Errorf("unknown message type %q", env.Type)
	}
	return nil
}

// sendDecisions gives the agent the current decision for every app and
// the results of its posture checks.
func (c *Controller) sendDecisions(s *session) {
	now := time.Now()
	c.mu.Lock()
	rep := c.postureLocked(s.device, now)
	msg := api.DecisionsMsg{Apps: appInfos(c.snap), Checks: c.snap.Checks(s.user, rep), Query: c.snap.Query()}
	for _, app := range c.snap.AppNames() {
		msg.Decisions = append(msg.Decisions, c.snap.Decide(s.user, rep, app, now))
	}
	c.mu.Unlock()
	s.send(api.TypeDecisions, msg)
}

func appInfos(snap *policy.Snapshot) []api.AppInfo {
	out := make([]api.AppInfo, 0, len(snap.Apps))
	for _, n := range snap.AppNames() {
		out = append(out, api.AppInfo{Name: n, Ports: appPorts(snap.Apps[n])})
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

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
