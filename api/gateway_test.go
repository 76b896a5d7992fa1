package api

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
)

// TestGatewayProofSeparation: a device's session signature never verifies
// as a gateway's and vice versa, for the same key, ID, nonce and exporter.
func TestGatewayProofSeparation(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	exporter, nonce := bytes.Repeat([]byte{7}, 32), bytes.Repeat([]byte{9}, 32)
	const id = "ABCDEF"
	device, gateway := AuthProof(exporter, id, nonce), GatewayAuthProof(exporter, id, nonce)
	tests := []struct {
		name         string
		signed, used []byte
		want         bool
	}{
		{"device proof as device", device, device, true},
		{"gateway proof as gateway", gateway, gateway, true},
		{"device proof as gateway", device, gateway, false},
		{"gateway proof as device", gateway, device, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig := ed25519.Sign(priv, tt.signed)
			if got := ed25519.Verify(pub, tt.used, sig); got != tt.want {
				t.Errorf("ed25519.Verify(%q) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}
