package tunnel

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"

	"golang.org/x/crypto/curve25519"
)

// PrivateKey is a WireGuard (Curve25519) private key. It never leaves the
// process that made it.
type PrivateKey [32]byte

// PublicKey is a WireGuard public key; it travels as standard base64.
type PublicKey [32]byte

// NewPrivateKey makes a fresh, clamped key.
func NewPrivateKey() (PrivateKey, error) {
	var k PrivateKey
	if _, err := rand.Read(k[:]); err != nil {
		return k, fmt.Errorf("make WireGuard key: %w", err)
	}
	k[0] &= 248
	k[31] = (k[31] & 127) | 64
	return k, nil
}

// Public derives the public key.
func (k PrivateKey) Public() PublicKey {
	var p PublicKey
	curve25519.ScalarBaseMult((*[32]byte)(&p), (*[32]byte)(&k))
	return p
}

// String is the base64 form used by wg(8) configs and the wire protocol.
func (k PrivateKey) String() string { return base64.StdEncoding.EncodeToString(k[:]) }

func (k PrivateKey) hex() string { return hex.EncodeToString(k[:]) }

func (p PublicKey) String() string { return base64.StdEncoding.EncodeToString(p[:]) }

func (p PublicKey) hex() string { return hex.EncodeToString(p[:]) }

// ParsePublicKey reads the base64 form, strictly: one key has exactly one
// spelling, so keys can be compared as strings once parsed and printed.
func ParsePublicKey(s string) (PublicKey, error) {
	var p PublicKey
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != len(p) {
		return p, fmt.Errorf("WireGuard public key %q: want 32 bytes of base64", s)
	}
	copy(p[:], b)
	return p, nil
}
