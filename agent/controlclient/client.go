package controlclient

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/wire"
)

// ErrNotConnected is returned by a send while there is no control
// connection; the agent reconnects on its own.
var ErrNotConnected = errors.New("not connected to the controller")

// Sender is what the agent sends the controller. Each call fails with
// ErrNotConnected (wrapped) while there is no control connection.
type Sender interface {
	// SendPosture sends a posture report.
	SendPosture(ctx context.Context, r api.PostureReport) error
	// RequestGrant asks for a tunnel to an app under a fresh public key;
	// the answer arrives as Handler.Grant or Handler.Deny.
	RequestGrant(ctx context.Context, r api.GrantRequest) error
	// Release gives a grant back.
	Release(ctx context.Context, r api.Release) error
	// Refresh asks for the signed-in session's new tokens; the answer
	// arrives as Handler.Tokens, or Handler.SignedOut when the session
	// is over.
	Refresh(ctx context.Context, r api.RefreshMsg) error
	// Logout ends the signed-in session at the controller.
	Logout(ctx context.Context) error
	// RequestAccess asks for just-in-time access (api/access.go); the
	// answer arrives as Handler.AccessResult with the same Seq.
	RequestAccess(ctx context.Context, m api.AccessRequestMsg) error
}

// Handler is the agent's side of the control connection. The client
// calls it from one goroutine, in the order the controller sent, so a
// method must not block for long; it may send through the Client.
type Handler interface {
	// Connected runs after the controller's welcome and before any other
	// message is read or any send through the Client succeeds: the first
	// posture report goes out on first here, so the controller never
	// decides on no posture. An error ends the connection.
	Connected(ctx context.Context, first Sender, w api.WelcomeMsg) error
	// Decisions is a whole decisions set (its pages assembled).
	Decisions(ctx context.Context, m api.DecisionsMsg)
	// Grant answers a RequestGrant.
	Grant(ctx context.Context, g api.Grant)
	// Deny refuses a RequestGrant.
	Deny(ctx context.Context, d api.Denial)
	// Revoke takes a grant back.
	Revoke(ctx context.Context, r api.Revocation)
	// Renew extends a grant's lease.
	Renew(ctx context.Context, r api.Renewal)
	// Tokens answers a Refresh with the session's rotated tokens.
	Tokens(ctx context.Context, m api.TokensMsg)
	// SignedOut says the signed-in session ended (logout, an admin,
	// expiry, token theft): its tokens are worth nothing now. It also
	// runs when the controller refuses a connection for its session
	// (a session.* code), so the next attempt presents no token.
	SignedOut(ctx context.Context, m api.SignedOutMsg)
	// AccessResult answers a RequestAccess.
	AccessResult(ctx context.Context, m api.AccessResultMsg)
	// Disconnected runs when a control connection that reached Connected
	// ends, with why; the client reconnects after it returns.
	Disconnected(err error)
}

// Config sets a Client up.
type Config struct {
	// Controller is the base URL, https://host:port (plain http on
	// loopback only; the caller checks).
	Controller string
	DeviceID   string
	DeviceKey  ed25519.PrivateKey
	// HTTPClient dials the websocket and holds the controller's CA; it
	// must have no overall timeout.
	HTTPClient *http.Client
	// AccessToken, when set, is asked at each connection for the
	// signed-in session's access token to present after the device
	// proof; "" presents none.
	AccessToken func() string
	// Backoff between attempts; zero fields take DefaultBackoff's.
	Backoff Backoff
	Logger  *slog.Logger
	// Changed, when set, runs (with no lock of the client held) each
	// time Connected or LastError may have changed: a connection came
	// up or ended, or an attempt failed. It must not block.
	Changed func()
}

// Client keeps one control connection up and is the agent's Sender.
type Client struct {
	cfg Config
	h   Handler
	log *slog.Logger

	mu      sync.Mutex // guards the fields below
	conn    *wire.Conn // the live control connection, nil between connections
	lastErr string     // why the last attempt or connection failed; "" while connected
	// redial skips the backoff once: Reconnect ended the connection on
	// purpose (to present a new access token).
	redial bool
	// stale: Reconnect ran while a connection was being set up, which
	// may have presented the old token; it is ended once set up.
	stale bool
}

var _ Sender = (*Client)(nil)

// New makes a client that reports to h; Run starts it.
func New(cfg Config, h Handler) *Client {
	d := DefaultBackoff()
	if cfg.Backoff.Min <= 0 {
		cfg.Backoff.Min = d.Min
	}
	if cfg.Backoff.Max < cfg.Backoff.Min {
		cfg.Backoff.Max = max(d.Max, cfg.Backoff.Min)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Client{cfg: cfg, h: h, log: cfg.Logger}
}

// Run keeps a control connection up until ctx ends, reconnecting with
// jittered exponential backoff.
func (c *Client) Run(ctx context.Context) {
	b := c.cfg.Backoff
	for ctx.Err() == nil {
		start := time.Now()
		err := c.connectAndServe(ctx)
		if ctx.Err() != nil {
			return
		}
		c.mu.Lock()
		c.lastErr = err.Error()
		redial := c.redial
		c.redial = false
		c.mu.Unlock()
		c.changed()
		wait := b.Wait(time.Since(start))
		if redial {
			wait = 0
		}
		c.log.Warn("control connection ended; reconnecting", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// changed runs Config.Changed, if set.
func (c *Client) changed() {
	if c.cfg.Changed != nil {
		c.cfg.Changed()
	}
}

// Connected reports whether a control connection is up.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn != nil
}

// Reconnect ends the current control connection, if any, and dials
// again at once: how a new access token reaches the controller.
func (c *Client) Reconnect() {
	c.mu.Lock()
	conn := c.conn
	c.redial, c.stale = true, conn == nil
	c.mu.Unlock()
	if conn != nil {
		conn.Close(websocket.StatusNormalClosure, "presenting a new access token")
	}
}

// LastError is why the last control connection or attempt failed, "" while
// connected or before the first attempt ends.
func (c *Client) LastError() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastErr
}

// connectAndServe runs one control connection: dial, proof, welcome, then
// messages until it ends. It always returns an error saying why.
func (c *Client) connectAndServe(ctx context.Context) error {
	c.mu.Lock()
	c.stale = false // this attempt asks for the newest token
	c.mu.Unlock()
	ws, resp, err := websocket.Dial(ctx, c.cfg.Controller+api.AgentWebsocketPath, &websocket.DialOptions{HTTPClient: c.cfg.HTTPClient})
	if err != nil {
		return fmt.Errorf("reach controller at %s: %w", c.cfg.Controller, err)
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
	auth, err := wire.SignProof(c.cfg.DeviceKey, exporter, c.cfg.DeviceID, hello)
	if err != nil {
		return err
	}
	if c.cfg.AccessToken != nil {
		auth.AccessToken = c.cfg.AccessToken()
	}
	if err := conn.Write(ctx, api.TypeAuth, auth); err != nil {
		return err
	}
	var welcome api.WelcomeMsg
	if err := conn.ReadOne(ctx, api.TypeWelcome, &welcome, wire.ReadOneTimeout); err != nil {
		var refused *wire.RefusedError
		if auth.AccessToken != "" && errors.As(err, &refused) && strings.HasPrefix(refused.Msg.Code, sessionCodePrefix) {
			c.h.SignedOut(ctx, api.SignedOutMsg{Code: refused.Msg.Code, Message: refused.Msg.Message})
		}
		return err
	}
	if err := c.h.Connected(ctx, connSender{conn}, welcome); err != nil {
		return fmt.Errorf("set the control connection up: %w", err)
	}
	c.mu.Lock()
	c.conn, c.lastErr = conn, ""
	if c.stale {
		conn.Close(websocket.StatusNormalClosure, "presenting a new access token")
	}
	c.mu.Unlock()
	c.changed()
	c.log.Info("connected to controller", "controller", c.cfg.Controller, "user", welcome.User)
	err = c.serve(ctx, conn)
	c.mu.Lock()
	c.conn = nil
	c.mu.Unlock()
	c.changed()
	c.h.Disconnected(err)
	return err
}

// serve reads messages until the connection ends.
func (c *Client) serve(ctx context.Context, conn *wire.Conn) error {
	var pages api.DecisionPages
	for {
		env, err := conn.Read(ctx)
		if errors.Is(err, wire.ErrMalformed) {
			c.log.Warn("skipped a malformed message", "err", err)
			continue
		}
		if err != nil {
			return err
		}
		if err := c.dispatch(ctx, env, &pages); err != nil {
			c.log.Warn("could not handle message from controller", "type", env.Type, "err", err)
		}
	}
}

// dispatch decodes one message and hands it to the Handler; pages holds
// a decisions set still arriving.
func (c *Client) dispatch(ctx context.Context, env api.Envelope, pages *api.DecisionPages) error {
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
			c.h.Decisions(ctx, set)
		}
	case api.TypeGrant:
		return decodeTo(env, func(g api.Grant) { c.h.Grant(ctx, g) })
	case api.TypeDeny:
		return decodeTo(env, func(d api.Denial) { c.h.Deny(ctx, d) })
	case api.TypeRevoke:
		return decodeTo(env, func(r api.Revocation) { c.h.Revoke(ctx, r) })
	case api.TypeRenew:
		return decodeTo(env, func(r api.Renewal) { c.h.Renew(ctx, r) })
	case api.TypeTokens:
		return decodeTo(env, func(m api.TokensMsg) { c.h.Tokens(ctx, m) })
	case api.TypeSignedOut:
		return decodeTo(env, func(m api.SignedOutMsg) { c.h.SignedOut(ctx, m) })
	case api.TypeAccessResult:
		return decodeTo(env, func(m api.AccessResultMsg) { c.h.AccessResult(ctx, m) })
	case api.TypeError:
		return decodeTo(env, func(e api.ErrorMsg) {
			c.log.Warn("controller reported an error", "code", e.Code, "message", e.Message)
		})
	default:
		return fmt.Errorf("unknown message type %q (is the agent older than the controller?)", env.Type)
	}
	return nil
}

func decodeTo[T any](env api.Envelope, f func(T)) error {
	var v T
	if err := env.Decode(&v); err != nil {
		return err
	}
	f(v)
	return nil
}

func (c *Client) send(ctx context.Context, typ string, data any) error {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn == nil {
		return ErrNotConnected
	}
	return conn.Write(ctx, typ, data)
}

// SendPosture implements Sender.
func (c *Client) SendPosture(ctx context.Context, r api.PostureReport) error {
	return c.send(ctx, api.TypePosture, r)
}

// RequestGrant implements Sender.
func (c *Client) RequestGrant(ctx context.Context, r api.GrantRequest) error {
	return c.send(ctx, api.TypeGrantRequest, r)
}

// Release implements Sender.
func (c *Client) Release(ctx context.Context, r api.Release) error {
	return c.send(ctx, api.TypeRelease, r)
}

// Refresh implements Sender.
func (c *Client) Refresh(ctx context.Context, r api.RefreshMsg) error {
	return c.send(ctx, api.TypeRefresh, r)
}

// Logout implements Sender.
func (c *Client) Logout(ctx context.Context) error {
	return c.send(ctx, api.TypeLogout, api.LogoutMsg{})
}

// RequestAccess implements Sender.
func (c *Client) RequestAccess(ctx context.Context, m api.AccessRequestMsg) error {
	return c.send(ctx, api.TypeAccessRequest, m)
}

// sessionCodePrefix opens the reason codes of a session that is over
// (api.CodeSessionExpired, api.CodeSessionRevoked, …).
const sessionCodePrefix = "session."

// connSender sends on one connection that is being set up, before the
// Client hands it out.
type connSender struct{ conn *wire.Conn }

var _ Sender = connSender{}

func (s connSender) SendPosture(ctx context.Context, r api.PostureReport) error {
	return s.conn.Write(ctx, api.TypePosture, r)
}

func (s connSender) RequestGrant(ctx context.Context, r api.GrantRequest) error {
	return s.conn.Write(ctx, api.TypeGrantRequest, r)
}

func (s connSender) Release(ctx context.Context, r api.Release) error {
	return s.conn.Write(ctx, api.TypeRelease, r)
}

func (s connSender) Refresh(ctx context.Context, r api.RefreshMsg) error {
	return s.conn.Write(ctx, api.TypeRefresh, r)
}

func (s connSender) Logout(ctx context.Context) error {
	return s.conn.Write(ctx, api.TypeLogout, api.LogoutMsg{})
}

func (s connSender) RequestAccess(ctx context.Context, m api.AccessRequestMsg) error {
	return s.conn.Write(ctx, api.TypeAccessRequest, m)
}
