package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse-ztna/gatehouse/controller"
	"github.com/gatehouse-ztna/gatehouse/controller/httpapi"
	"github.com/gatehouse-ztna/gatehouse/gateway"
	"github.com/gatehouse-ztna/gatehouse/tunnel"
)

// defaultGatewayPort is the embedded gateway's WireGuard UDP port.
const defaultGatewayPort = 51820

// embeddedConfig places the embedded gateway's WireGuard endpoint.
type embeddedConfig struct {
	// Port is the UDP port; 0 picks a free one (tests).
	Port int
	// Host is the name agents reach this machine at. Required when the
	// controller listens beyond loopback (only the admin knows that name);
	// on loopback it defaults to the listen host.
	Host string
}

// checkEmbedded refuses, before anything is created, an embedded gateway
// that would tell agents to reach it at 127.0.0.1 while the controller
// listens beyond loopback, or a host that is no name or address.
func checkEmbedded(listen string, gc embeddedConfig) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", listen, err)
	}
	if gc.Host == "" && !httpapi.IsLoopback(host) {
		return fmt.Errorf("listening on %q, beyond loopback, needs --gateway-host: the name or address agents reach this machine at "+
			"(the embedded gateway's WireGuard endpoint); add --public-name with the same name so the certificate covers it", listen)
	}
	if gc.Host != "" {
		if err := httpapi.ValidHost(gc.Host); err != nil {
			return fmt.Errorf("--gateway-host: %w", err)
		}
	}
	return nil
}

// startEmbedded runs the embedded gateway in this process; its WireGuard
// key is kept in the data dir (0600) so agents' configs survive restarts.
func startEmbedded(dataDir, listen string, gc embeddedConfig, log *slog.Logger) (*gateway.Gateway, error) {
	if err := checkEmbedded(listen, gc); err != nil {
		return nil, err
	}
	key, err := loadOrCreateWGKey(filepath.Join(dataDir, "gateway.key"))
	if err != nil {
		return nil, err
	}
	host := gc.Host
	if host == "" {
		host, _, _ = net.SplitHostPort(listen) // loopback: checkEmbedded requires a host otherwise
	}
	return gateway.New(gateway.Config{PrivateKey: key, ListenPort: gc.Port, PublicHost: host, Logger: log})
}

// embeddedEnforcer is the embedded gateway as the controller drives it:
// the gateway's ErrUnknownPeer is the Enforcer contract's ErrPeerLost, so
// a renewal of a peer the gateway lost revokes the grant.
type embeddedEnforcer struct{ *gateway.Gateway }

var _ controller.Enforcer = embeddedEnforcer{}

func (e embeddedEnforcer) RenewPeer(ctx context.Context, publicKey string, lease time.Duration) error {
	return peerLost(e.Gateway.RenewPeer(ctx, publicKey, lease))
}

func (e embeddedEnforcer) RemovePeer(ctx context.Context, publicKey string) error {
	return peerLost(e.Gateway.RemovePeer(ctx, publicKey))
}

// peerLost maps the gateway's ErrUnknownPeer onto controller.ErrPeerLost.
func peerLost(err error) error {
	if errors.Is(err, gateway.ErrUnknownPeer) {
		return fmt.Errorf("%w: %w", controller.ErrPeerLost, err)
	}
	return err
}

func loadOrCreateWGKey(path string) (tunnel.PrivateKey, error) {
	var key tunnel.PrivateKey
	b, err := os.ReadFile(path)
	if err == nil && len(b) == len(key) {
		copy(key[:], b)
		return key, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return key, fmt.Errorf("read gateway key: %w", err)
	}
	if key, err = tunnel.NewPrivateKey(); err != nil {
		return key, err
	}
	if err := os.WriteFile(path, key[:], 0o600); err != nil {
		return key, fmt.Errorf("write gateway key: %w", err)
	}
	return key, nil
}
