package wire

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// NonceBytes is the length of the controller's hello nonce.
const NonceBytes = 32

// ErrBadProof is a device or gateway proof whose signature does not match.
var ErrBadProof = errors.New("signature does not match its enrolled key")

// NewHello makes a hello with a fresh random nonce; the controller keeps
// nonce to verify the proof.
func NewHello() (hello api.HelloMsg, nonce []byte, err error) {
	nonce = make([]byte, NonceBytes)
	if _, err := rand.Read(nonce); err != nil {
		return api.HelloMsg{}, nil, fmt.Errorf("make a nonce: %w", err)
	}
	return api.HelloMsg{Nonce: base64.StdEncoding.EncodeToString(nonce)}, nonce, nil
}

// SignProof answers hello: the device signs api.AuthProof over the TLS
// exporter value of this connection (nil over plain HTTP on loopback),
// its ID and the nonce.
func SignProof(key ed25519.PrivateKey, exporter []byte, deviceID string, hello api.HelloMsg) (api.AuthMsg, error) {
	nonce, err := base64.StdEncoding.DecodeString(hello.Nonce)
	if err != nil {
		return api.AuthMsg{}, fmt.Errorf("the controller sent a malformed nonce: %w", err)
	}
	if len(key) != ed25519.PrivateKeySize {
		return api.AuthMsg{}, fmt.Errorf("device key is %d bytes, want %d: enroll again", len(key), ed25519.PrivateKeySize)
	}
	sig := ed25519.Sign(key, api.AuthProof(exporter, deviceID, nonce))
	return api.AuthMsg{DeviceID: deviceID, Signature: base64.StdEncoding.EncodeToString(sig)}, nil
}

// VerifyProof checks auth against the device's enrolled public key
// (base64, as stored), this connection's exporter value and the nonce the
// controller sent. A mismatch wraps ErrBadProof.
func VerifyProof(enrolledKey string, exporter, nonce []byte, auth api.AuthMsg) error {
	pub, err := base64.StdEncoding.DecodeString(enrolledKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("device %q: its enrolled key is corrupt; delete the device and enroll it again", auth.DeviceID)
	}
	sig, err := base64.StdEncoding.DecodeString(auth.Signature)
	if err != nil || !ed25519.Verify(pub, api.AuthProof(exporter, auth.DeviceID, nonce), sig) {
		return fmt.Errorf("device %q: %w", auth.DeviceID, ErrBadProof)
	}
	return nil
}

// A gateway proves its key as a device does, over api.GatewayAuthProof (a
// context of its own) and in its own message type: a device's proof never
// verifies as a gateway's, nor the other way round, and the two pairs of
// functions take different types so a caller cannot mix them up.

// SignGatewayProof answers hello for a standalone gateway: its key signs
// api.GatewayAuthProof over the TLS exporter value of this connection, its
// ID and the nonce. The caller fills in the rest of the message.
func SignGatewayProof(key ed25519.PrivateKey, exporter []byte, gatewayID string, hello api.HelloMsg) (api.GatewayAuthMsg, error) {
	nonce, err := base64.StdEncoding.DecodeString(hello.Nonce)
	if err != nil {
		return api.GatewayAuthMsg{}, fmt.Errorf("controller sent a malformed nonce: %w", err)
	}
	if len(key) != ed25519.PrivateKeySize {
		return api.GatewayAuthMsg{}, fmt.Errorf("gateway key is %d bytes, want %d: enroll the gateway again", len(key), ed25519.PrivateKeySize)
	}
	sig := ed25519.Sign(key, api.GatewayAuthProof(exporter, gatewayID, nonce))
	return api.GatewayAuthMsg{GatewayID: gatewayID, Signature: base64.StdEncoding.EncodeToString(sig)}, nil
}

// VerifyGatewayProof checks auth against the gateway's enrolled public
// key, this connection's exporter value and the nonce the controller
// sent. A mismatch wraps ErrBadProof.
func VerifyGatewayProof(enrolledKey ed25519.PublicKey, exporter, nonce []byte, auth api.GatewayAuthMsg) error {
	if len(enrolledKey) != ed25519.PublicKeySize {
		return fmt.Errorf("gateway %q: its enrolled key is corrupt; delete the gateway and enroll it again", auth.GatewayID)
	}
	sig, err := base64.StdEncoding.DecodeString(auth.Signature)
	if err != nil || !ed25519.Verify(enrolledKey, api.GatewayAuthProof(exporter, auth.GatewayID, nonce), sig) {
		return fmt.Errorf("gateway %q: %w", auth.GatewayID, ErrBadProof)
	}
	return nil
}
