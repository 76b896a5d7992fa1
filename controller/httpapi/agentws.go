package httpapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller"
	"github.com/gatehouse-ztna/gatehouse/wire"
)

// The agent websocket: upgrade, the handshake (nonce out, proof in, checked
// by the core), then two pumps until either side goes away — the writer
// sends what the core queued for the link, the reader hands the core
// every message.

// handleAgent runs one agent link.
func (s *Server) handleAgent(w http.ResponseWriter, r *http.Request) {
	s.linkW.Add(1)
	defer s.linkW.Done()
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		s.log.Warn("agent websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	conn := wire.NewConn(ws, "agent") // reads held to api.MaxMessageBytes
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()

	l, err := s.authenticateAgent(ctx, conn, r.TLS)
	if err == nil {
		l.SetSource(r.RemoteAddr)
		err = s.core.AttachAgent(ctx, l)
	}
	if err != nil {
		// The error may quote what the unauthenticated client sent (its
		// device ID): clipped, so a 64 KiB frame cannot grow the log by
		// 64 KiB.
		s.log.Warn("agent link refused", "remote", r.RemoteAddr, "err", controller.Clip(err.Error()))
		code := api.CodeUnauthorized
		if refused, ok := errors.AsType[*controller.LinkRefusedError](err); ok {
			code = refused.Code // a session code: the agent refreshes or signs in
		}
		conn.Write(ctx, api.TypeError, api.ErrorMsg{Code: code, Message: controller.Clip(err.Error())})
		conn.Close(websocket.StatusPolicyViolation, err.Error())
		return
	}
	s.log.Info("agent connected", "device", l.Device(), "user", l.User(), "remote", r.RemoteAddr)
	writer := make(chan struct{})
	go func() {
		defer close(writer)
		s.writeAgent(ctx, conn, l)
	}()

	s.readAgent(ctx, conn, l)

	l.Close("link ended")
	<-writer
	l.Wait()
	s.log.Info("agent disconnected", "device", l.Device(), "user", l.User())
}

// authenticateAgent sends a nonce and has the core check the device's
// signature over the link proof: the nonce bound to this TLS connection
// and the device ID.
func (s *Server) authenticateAgent(ctx context.Context, conn *wire.Conn, cs *tls.ConnectionState) (*controller.AgentLink, error) {
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
	return s.core.AuthenticateAgent(ctx, auth, exporter, nonce)
}

// writeAgent owns the connection's writes and its closing: it sends queued
// messages, the latest decision set and pings until the link is closed,
// then closes the socket with the reason. Queued messages go before a
// decision set that is waiting, so welcome is always first.
func (s *Server) writeAgent(ctx context.Context, conn *wire.Conn, l *controller.AgentLink) {
	ping := time.NewTicker(s.cfg.PingInterval)
	defer ping.Stop()
	defer func() { conn.Close(websocket.StatusPolicyViolation, l.Why()) }()
	write := func(envs ...api.Envelope) bool {
		for _, env := range envs {
			if err := conn.WriteEnvelope(ctx, env, s.cfg.WriteTimeout); err != nil {
				// A timed-out write also ends the read pump, which may
				// close the link first: say why here.
				s.log.Warn("write to agent failed; closing its link", "device", l.Device(), "timeout", s.cfg.WriteTimeout, "err", err)
				l.Close("write failed: the agent is not reading its messages")
				return false
			}
		}
		return true
	}
	for {
		select {
		case env := <-l.Outbox():
			if !write(env) {
				return
			}
			continue
		default:
		}
		select {
		case <-l.Done():
			return
		case env := <-l.Outbox():
			if !write(env) {
				return
			}
		case <-l.DecisionsReady():
			if !write(l.TakeDecisions()...) {
				return
			}
		case <-ping.C:
			// Ping waits for the pong, which the read pump receives.
			pctx, cancel := context.WithTimeout(ctx, s.cfg.PingTimeout)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				l.Close("agent stopped answering pings")
				return
			}
		}
	}
}

// readAgent hands every message to the core until the connection ends.
func (s *Server) readAgent(ctx context.Context, conn *wire.Conn, l *controller.AgentLink) {
	for {
		env, err := conn.Read(ctx)
		if errors.Is(err, wire.ErrMalformed) {
			s.log.Warn("malformed message from agent", "device", l.Device(), "err", err)
			l.SendError(api.CodeMalformed, fmt.Sprintf("message is not valid JSON: %v", err))
			continue
		}
		if err != nil {
			switch {
			case errors.Is(err, websocket.ErrMessageTooBig):
				s.log.Warn("agent sent an oversized message; connection closed", "device", l.Device(), "limit", api.MaxMessageBytes)
			case websocket.CloseStatus(err) == -1 && ctx.Err() == nil:
				s.log.Info("agent connection ended", "device", l.Device(), "err", err)
			}
			return
		}
		if err := s.core.AgentMessage(ctx, l, env); err != nil {
			s.log.Warn("rejected message from agent", "device", l.Device(), "type", env.Type, "err", err)
			l.SendError(api.CodeBadRequest, err.Error())
		}
	}
}
