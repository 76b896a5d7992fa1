package main

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/controller"
	"github.com/gatehouse-ztna/gatehouse/tunnel"
)

func TestCheckEmbedded(t *testing.T) {
	tests := []struct {
		name    string
		listen  string
		in      embeddedConfig
		wantErr string
	}{
		{name: "all interfaces", listen: ":8443", wantErr: "needs --gateway-host"},
		{name: "all IPv4 interfaces", listen: "0.0.0.0:8443", wantErr: "needs --gateway-host"},
		{name: "all IPv6 interfaces", listen: "[::]:8443", wantErr: "needs --gateway-host"},
		{name: "a LAN address", listen: "192.0.2.10:8443", wantErr: "needs --gateway-host"},
		{name: "gateway host with a port", listen: "127.0.0.1:0", in: embeddedConfig{Host: "gw.example.com:51820"}, wantErr: `--gateway-host: "gw.example.com:51820" is neither`},
		{name: "beyond loopback with a gateway host", listen: ":8443", in: embeddedConfig{Host: "gw.example.com"}},
		{name: "loopback", listen: "127.0.0.1:0"},
		{name: "localhost", listen: "localhost:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkEmbedded(tt.listen, tt.in)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("checkEmbedded(%q, %+v) = %v, want an error containing %q", tt.listen, tt.in, err, tt.wantErr)
			}
		})
	}
}

// TestEmbeddedGatewayKeepsItsKey: the embedded gateway's WireGuard key
// lives in the data dir, so a restart keeps agents' configs valid, and its
// endpoint is the --gateway-host.
func TestEmbeddedGatewayKeepsItsKey(t *testing.T) {
	dir := t.TempDir()
	gc := embeddedConfig{Host: "gw.example.test"}
	first, err := startEmbedded(dir, "127.0.0.1:0", gc, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	key := first.PublicKey()
	if got := first.Endpoint(); !strings.HasPrefix(got, "gw.example.test:") {
		t.Errorf("Endpoint() = %q, want the --gateway-host", got)
	}
	first.Close()
	second, err := startEmbedded(dir, "127.0.0.1:0", gc, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if got := second.PublicKey(); got != key {
		t.Errorf("PublicKey() after restart = %q, want %q (kept in %s)", got, key, filepath.Join(dir, "gateway.key"))
	}
}

// TestEmbeddedEnforcerSaysPeerLost: the embedded gateway's "no such peer"
// reaches the grant manager as controller.ErrPeerLost (so it revokes the
// grant), and no other error does.
func TestEmbeddedEnforcerSaysPeerLost(t *testing.T) {
	gw, err := startEmbedded(t.TempDir(), "127.0.0.1:0", embeddedConfig{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	e := embeddedEnforcer{gw}
	key, err := tunnel.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	unknown := key.Public().String()
	ctx := context.Background()
	tests := []struct {
		name     string
		call     func() error
		wantLost bool
	}{
		{name: "renew of a peer it does not hold", call: func() error { return e.RenewPeer(ctx, unknown, time.Minute) }, wantLost: true},
		{name: "remove of a peer it does not hold", call: func() error { return e.RemovePeer(ctx, unknown) }, wantLost: true},
		{name: "renew with no lease", call: func() error { return e.RenewPeer(ctx, unknown, 0) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil || errors.Is(err, controller.ErrPeerLost) != tt.wantLost {
				t.Errorf("%s = %v, want an error that is ErrPeerLost: %v", tt.name, err, tt.wantLost)
			}
		})
	}
}
