package controller

import (
	"context"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/gateway"
)

// Enforcer is a gateway as the controller drives it: the embedded one in
// process, or (later) a remote one over its websocket.
type Enforcer interface {
	// Endpoint is the UDP host:port agents reach WireGuard at.
	Endpoint() string
	// PublicKey is the gateway's WireGuard public key (base64).
	PublicKey() string
	// AddPeer installs (or replaces) a grant's peer; when it returns nil
	// the gateway admits the grant's flows. It must fail for an expired lease.
	AddPeer(ctx context.Context, pc api.PeerConfig) error
	// RenewPeer gives a live peer lease more life from now, on the
	// gateway's own clock; an error means the peer is not renewed and will
	// drop at its old expiry.
	RenewPeer(ctx context.Context, publicKey string, lease time.Duration) error
	// RemovePeer resets the peer's open flows and removes it.
	RemovePeer(ctx context.Context, publicKey string) error
	// Peers lists what is installed.
	Peers(ctx context.Context) []api.GatewayPeer
}

var _ Enforcer = (*gateway.Gateway)(nil)
