package wire

import (
	"context"

	"github.com/coder/websocket"
)

// WriteRaw sends b as one text frame, envelope or not: how tests play a
// peer that breaks the framing.
func WriteRaw(ctx context.Context, c *Conn, b []byte) error {
	return c.ws.Write(ctx, websocket.MessageText, b)
}
