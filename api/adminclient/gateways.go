package adminclient

import (
	"context"
	"net/http"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// GatewayToken makes a single-use enrollment token for gateway name.
func (c *Client) GatewayToken(ctx context.Context, name string, ttl time.Duration) (api.GatewayEnrollmentToken, error) {
	var t api.GatewayEnrollmentToken
	return t, c.Do(ctx, http.MethodPost, api.PathGatewayTokens, api.GatewayTokenRequest{Name: name, TTL: api.Duration(ttl)}, &t)
}

// DeleteGateway forgets gateway name; its key stops working at once.
func (c *Client) DeleteGateway(ctx context.Context, name string) error {
	return c.Delete(ctx, api.PathGateways, name)
}
