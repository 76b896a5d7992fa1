package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/coder/websocket"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// Timeouts a side uses unless it has a reason to pick its own.
const (
	// WriteTimeout bounds one write: a peer that does not read must not
	// hold its writer for ever.
	WriteTimeout = 5 * time.Second
	// ReadOneTimeout bounds a handshake step (hello, auth, welcome).
	ReadOneTimeout = 10 * time.Second
)

// ErrMalformed marks a message that arrived whole but is not a valid
// envelope. The connection is still usable: the reader may skip it.
var ErrMalformed = errors.New("malformed message")

// RefusedError is the peer's error message, received where another type
// was expected: the peer refused the step.
type RefusedError struct {
	Peer string // who refused: "controller", "agent"
	Want string // the message type that was expected
	Msg  api.ErrorMsg
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s refused (%s) while this side waited for %s: %s", e.Peer, e.Msg.Code, e.Want, e.Msg.Message)
}

// Conn is one websocket speaking api envelopes. Writes may come from
// several goroutines (the websocket library serialises them); reads from
// one goroutine at a time.
type Conn struct {
	ws   *websocket.Conn
	peer string // who is on the other end, for error messages
}

// NewConn frames ws, whose other end is peer ("controller", "agent"), and
// sets its read limit to api.MaxMessageBytes: a larger message closes the
// connection with status 1009.
func NewConn(ws *websocket.Conn, peer string) *Conn {
	ws.SetReadLimit(api.MaxMessageBytes)
	return &Conn{ws: ws, peer: peer}
}

// Peer names the other end.
func (c *Conn) Peer() string { return c.peer }

// Write sends one message of type typ within WriteTimeout.
func (c *Conn) Write(ctx context.Context, typ string, data any) error {
	env, err := api.NewEnvelope(typ, data)
	if err != nil {
		return err
	}
	return c.WriteEnvelope(ctx, env, WriteTimeout)
}

// WriteEnvelope sends env, giving up after timeout.
func (c *Conn) WriteEnvelope(ctx context.Context, env api.Envelope, timeout time.Duration) error {
	b, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("encode %s message: %w", env.Type, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		return fmt.Errorf("send %s to the %s: %w", env.Type, c.peer, err)
	}
	return nil
}

// Read waits for the next message. An error wrapping ErrMalformed leaves
// the connection usable; any other error ends it (errors.Is(err,
// websocket.ErrMessageTooBig) when the peer broke the read limit).
func (c *Conn) Read(ctx context.Context) (api.Envelope, error) {
	_, data, err := c.ws.Read(ctx)
	if err != nil {
		return api.Envelope{}, fmt.Errorf("%s connection: %w", c.peer, err)
	}
	var env api.Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return api.Envelope{}, fmt.Errorf("%w from the %s: %w", ErrMalformed, c.peer, err)
	}
	return env, nil
}

// ReadOne reads one message that must be of type want, within timeout,
// and decodes it into v. The peer's error message comes back as a
// *RefusedError; any other type, or a malformed message, is an error too.
func (c *Conn) ReadOne(ctx context.Context, want string, v any, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	env, err := c.Read(ctx)
	if err != nil {
		return fmt.Errorf("waiting for %s: %w", want, err)
	}
	if env.Type == api.TypeError && want != api.TypeError {
		var m api.ErrorMsg
		if err := env.Decode(&m); err != nil {
			return fmt.Errorf("waiting for %s: %w", want, err)
		}
		return &RefusedError{Peer: c.peer, Want: want, Msg: m}
	}
	if env.Type != want {
		return fmt.Errorf("expected %s from the %s, got %q", want, c.peer, env.Type)
	}
	return env.Decode(v)
}

// Ping sends a ping and waits for its pong, which arrives only while
// another goroutine reads.
func (c *Conn) Ping(ctx context.Context) error { return c.ws.Ping(ctx) }

// Close closes with a status and reason (clipped to what a close frame
// holds), waiting briefly for the peer's answer.
func (c *Conn) Close(code websocket.StatusCode, reason string) error {
	if len(reason) > maxCloseReason {
		reason = reason[:maxCloseReason]
	}
	return c.ws.Close(code, reason)
}

// maxCloseReason: a close frame's payload is at most 125 bytes, 2 of
// them the status code.
const maxCloseReason = 120

// CloseNow drops the connection without a closing handshake.
func (c *Conn) CloseNow() error { return c.ws.CloseNow() }
