package agent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/coder/websocket"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/wire"
)

const (
	minBackoff = 200 * time.Millisecond
	maxBackoff = 10 * time.Second
)

// errNotConnected is returned by send while there is no session.
var errNotConnected = errors.New("not connected to the controller")

// sessionLoop keeps one controller session up, reconnecting with jittered
// exponential backoff.
func (a *Agent) sessionLoop(ctx context.Context) {
	backoff := minBackoff
	for ctx.Err() == nil {
		start := time.Now()
		err := a.session(ctx)
		a.mu.Lock()
		a.conn = nil
		if err != nil && ctx.Err() == nil {
			a.lastErr = err.Error()
		}
		for app, f := range a.pending {
			f.fail(fmt.Errorf("lost the controller while asking for %s: %w", app, errNotConnected))
			delete(a.pending, app)
		}
		a.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		a.log.Warn("controller session ended; reconnecting", "err", err, "in", backoff)
		if time.Since(start) > maxBackoff {
			backoff = minBackoff
		}
		sleep := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(sleep):
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// session dials, proves the device key, and handles messages until the
// connection ends.
func (a *Agent) session(ctx context.Context) error {
	ws, resp, err := websocket.Dial(ctx, a.st.Controller+api.AgentWebsocketPath, a.wsOpt)
	if err != nil {
		return fmt.Errorf("reach controller at %s: %w", a.st.Controller, err)
	}
	conn := wire.NewConn(ws, "controller")
	defer conn.CloseNow()
	exporter, err := api.AuthExporter(resp.TLS)
	if err != nil {
		return err
	}
	var hello api.HelloMsg
	if err := conn.ReadOne(ctx, api.TypeHello, &hello, wire.ReadOneTimeout); err != nil {
		return err
	}
	auth, err := wire.SignProof(a.key, exporter, a.st.DeviceID, hello)
	if err != nil {
		return err
	}
	if err := conn.Write(ctx, api.TypeAuth, auth); err != nil {
		return err
	}
	var welcome api.WelcomeMsg
	if err := conn.ReadOne(ctx, api.TypeWelcome, &welcome, wire.ReadOneTimeout); err != nil {
		return err
	}
	a.mu.Lock()
	if hb := time.Duration(welcome.HeartbeatInterval); hb > 0 {
		a.heartbeat = hb
	}
	a.query = welcome.Query
	var lost []*appTunnel
	for _, t := range a.tunnels {
		if !slices.Contains(welcome.Tunnels, t.pub.String()) {
			lost = append(lost, t)
		}
	}
	a.mu.Unlock()
	for _, t := range lost {
		a.teardown(t, []api.Reason{{Code: "controller.lost_grant",
			Message: "the controller no longer holds this tunnel (it may have restarted)", Remediation: "Reconnect; a new tunnel comes up on the next connection"}})
	}
	// The first report goes out before anything else can use the session,
	// so the controller never decides a grant request on no posture.
	if err := a.reportPosture(ctx, conn, true); err != nil {
		return fmt.Errorf("send posture: %w", err)
	}
	a.mu.Lock()
	a.conn, a.lastErr = conn, ""
	a.mu.Unlock()
	a.log.Info("connected to controller", "controller", a.st.Controller, "user", welcome.User)

	var pages api.DecisionPages
	for {
		env, err := conn.Read(ctx)
		if errors.Is(err, wire.ErrMalformed) {
			a.log.Warn("skipped a malformed message", "err", err)
			continue
		}
		if err != nil {
			return err
		}
		if err := a.handle(ctx, env, &pages); err != nil {
			a.log.Warn("could not handle message from controller", "type", env.Type, "err", err)
		}
	}
}

// handle acts on one message from the controller; pages holds the pages
// of a decisions set that is still arriving.
func (a *Agent) handle(ctx context.Context, env api.Envelope, pages *api.DecisionPages) error {
	switch env.Type {
	case api.TypeDecisions:
		var m api.DecisionsMsg
		if err := env.Decode(&m); err != nil {
			return err
		}
		set, done, err := pages.Add(m)
		if err != nil {
			return err
		}
		if done {
			a.applyDecisions(ctx, set)
		}
	case api.TypeGrant:
		var g api.Grant
		if err := env.Decode(&g); err != nil {
			return err
		}
		a.granted(ctx, g)
	case api.TypeDeny:
		var d api.Denial
		if err := env.Decode(&d); err != nil {
			return err
		}
		a.denied(d)
	case api.TypeRevoke:
		var r api.Revocation
		if err := env.Decode(&r); err != nil {
			return err
		}
		a.revoked(r)
	case api.TypeRenew:
		var r api.Renewal
		if err := env.Decode(&r); err != nil {
			return err
		}
		a.renewed(ctx, r)
	case api.TypeError:
		var e api.ErrorMsg
		if err := env.Decode(&e); err != nil {
			return err
		}
		a.log.Warn("controller reported an error", "code", e.Code, "message", e.Message)
	default:
		return fmt.Errorf("unknown message type %q (is the agent older than the controller?)", env.Type)
	}
	return nil
}

// applyDecisions records the controller's view and opens or closes proxy
// ports to match the app list: the apps the user is entitled to.
func (a *Agent) applyDecisions(ctx context.Context, m api.DecisionsMsg) {
	a.mu.Lock()
	a.apps, a.checks = m.Apps, m.Checks
	a.decisions = map[string]api.Decision{}
	for _, d := range m.Decisions {
		a.decisions[d.App] = d
	}
	queryChanged := !slices.Equal(a.query.Processes, m.Query.Processes)
	a.query = m.Query
	a.mu.Unlock()
	if queryChanged {
		a.PostureChanged()
	}
	a.syncListeners(ctx, m.Apps)
}

// send writes one message on the current session.
func (a *Agent) send(ctx context.Context, typ string, data any) error {
	a.mu.Lock()
	conn := a.conn
	a.mu.Unlock()
	if conn == nil {
		return errNotConnected
	}
	return conn.Write(ctx, typ, data)
}
