package localapi

import (
	"context"
	"net/http"
	"net/url"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// PathWireGuardConfig: POST (?app=NAME) asks for a grant to the app under
// a fresh key pair and answers its WireGuardConfig; DELETE (?app=NAME)
// gives that grant back, so the exported config stops working.
const PathWireGuardConfig = "/v1/wireguard-config"

// WireGuardConfig is a grant exported as a standard WireGuard config.
type WireGuardConfig struct {
	App       string `json:"app"`
	PublicKey string `json:"public_key,omitempty"`
	// Lease is the grant's life from now unless the controller renews it
	// (it does while the agent's session lives and the policy passes).
	Lease api.Duration `json:"lease,omitempty"`
	// Config is the wg-quick file; it holds the private key (a secret).
	Config string `json:"config,omitempty"`
}

// ExportWireGuard asks the agent for app's grant as a WireGuard config.
func (c *Client) ExportWireGuard(ctx context.Context, app string) (WireGuardConfig, error) {
	var w WireGuardConfig
	return w, c.do(ctx, http.MethodPost, PathWireGuardConfig+"?app="+url.QueryEscape(app), &w)
}

// ReleaseWireGuard gives app's exported grant back.
func (c *Client) ReleaseWireGuard(ctx context.Context, app string) error {
	var w WireGuardConfig
	return c.do(ctx, http.MethodDelete, PathWireGuardConfig+"?app="+url.QueryEscape(app), &w)
}
