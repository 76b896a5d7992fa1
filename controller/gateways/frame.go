package gateways

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/coder/websocket"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// The websocket framing of the hub, in one place so a shared framing
// package can replace it.

const writeTimeout = 5 * time.Second

// conn is one gateway's websocket.
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

// read returns the next envelope.
func (c conn) read(ctx context.Context) (api.Envelope, error) {
	_, data, err := c.ws.Read(ctx)
	if err != nil {
		return api.Envelope{}, err
	}
	var env api.Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return api.Envelope{}, fmt.Errorf("malformed message from gateway: %w", err)
	}
	return env, nil
}

// refuse tells the gateway why, then closes with status 1008.
func (c conn) refuse(ctx context.Context, code, msg string) {
	c.write(ctx, api.TypeError, api.ErrorMsg{Code: code, Message: msg})
	c.ws.Close(websocket.StatusPolicyViolation, "authentication failed")
}
