package main

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
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
