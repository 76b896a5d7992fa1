package link

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/coder/websocket"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// The websocket framing of the link, in one place so a shared framing
// package can replace it.

const writeTimeout = 5 * time.Second

// conn is one websocket to the controller.
type conn struct{ ws *websocket.Conn }

// write sends one envelope; safe for concurrent use.
func (c conn) write(ctx context.Context, typ string, data any) error {
	env, err := api.NewEnvelope(typ, data)
	if err != nil {
		return err
	}
	b, err := json.Marshal(env)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, b)
}

// read returns the next envelope; an error message from the controller
// becomes the returned error.
func (c conn) read(ctx context.Context) (api.Envelope, error) {
	_, data, err := c.ws.Read(ctx)
	if err != nil {
		return api.Envelope{}, err
	}
	var env api.Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return api.Envelope{}, fmt.Errorf("malformed message from controller: %w", err)
	}
	return env, nil
}

// readTyped reads one message that must be of type want within timeout.
func (c conn) readTyped(ctx context.Context, want string, timeout time.Duration, v any) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	env, err := c.read(ctx)
	if err != nil {
		return fmt.Errorf("waiting for %s from controller: %w", want, err)
	}
	if env.Type == api.TypeError {
		var e api.ErrorMsg
		env.Decode(&e)
		return fmt.Errorf("controller refused the gateway session: %s", e.Message)
	}
	if env.Type != want {
		return fmt.Errorf("expected %s from controller, got %q", want, env.Type)
	}
	return env.Decode(v)
}
