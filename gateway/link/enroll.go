package link

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/tunnel"
	"github.com/gatehouse-ztna/gatehouse/wire"
)

// Files under a gateway's state dir.
const (
	stateFile = "gateway.json"
	keyFile   = "gateway-key" // Ed25519 seed, base64, 0600
	caFile    = "ca.pem"
)

// State is what enrollment leaves in the state dir (besides the key).
type State struct {
	Controller string `json:"controller"`
	GatewayID  string `json:"gateway_id"`
	Name       string `json:"name"`
}

// EnrollOptions are the inputs of Enroll.
type EnrollOptions struct {
	Controller string
	Token      string
	CAPEM      []byte // nil: the system roots
	StateDir   string
}

// Enroll makes a new Ed25519 key, spends the token at the controller and
// keeps the key (0600), the CA and the state under StateDir (0700).
func Enroll(ctx context.Context, o EnrollOptions) (State, error) {
	if err := api.CheckControllerURL(o.Controller); err != nil {
		return State{}, fmt.Errorf("%w; use the controller's https URL", err)
	}
	if o.Token == "" {
		return State{}, errors.New("no enrollment token: make one with `gatehouse admin gateways create NAME`")
	}
	hc, err := httpClient(o.CAPEM)
	if err != nil {
		return State{}, err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return State{}, err
	}
	er, err := wire.EnrollGateway(ctx, hc, o.Controller,
		api.GatewayEnrollRequest{Token: o.Token, PublicKey: base64.StdEncoding.EncodeToString(pub)})
	if err != nil { // a refusal says the next step in the controller's words
		return State{}, err
	}
	st := State{Controller: strings.TrimSuffix(o.Controller, "/"), GatewayID: er.GatewayID, Name: er.Name}
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return State{}, fmt.Errorf("make state dir: %w", err)
	}
	if err := os.Chmod(o.StateDir, 0o700); err != nil {
		return State{}, err
	}
	if err := writeFile(filepath.Join(o.StateDir, keyFile), []byte(base64.StdEncoding.EncodeToString(priv.Seed()))); err != nil {
		return State{}, err
	}
	if o.CAPEM != nil {
		if err := writeFile(filepath.Join(o.StateDir, caFile), o.CAPEM); err != nil {
			return State{}, err
		}
	}
	b, _ := json.MarshalIndent(st, "", "  ")
	return st, writeFile(filepath.Join(o.StateDir, stateFile), b)
}

// Load reads what Enroll left in dir: the state, the key, and the CA
// (nil when enrolled against the system roots).
func Load(dir string) (State, ed25519.PrivateKey, []byte, error) {
	var st State
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return st, nil, nil, fmt.Errorf("read gateway state: %w; run `gatehouse-gateway enroll` first", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, nil, nil, fmt.Errorf("gateway state %s is corrupt (%v); enroll again", filepath.Join(dir, stateFile), err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, keyFile))
	if err != nil {
		return st, nil, nil, fmt.Errorf("read gateway key: %w; enroll again", err)
	}
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return st, nil, nil, fmt.Errorf("gateway key %s is corrupt; enroll again", filepath.Join(dir, keyFile))
	}
	ca, err := os.ReadFile(filepath.Join(dir, caFile))
	if errors.Is(err, os.ErrNotExist) {
		ca = nil
	} else if err != nil {
		return st, nil, nil, err
	}
	return st, ed25519.NewKeyFromSeed(seed), ca, nil
}

// writeFile writes b to path with mode 0600, whatever the umask, and
// replaces any older file atomically.
func writeFile(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// httpClient is wire.HTTPClient for gateway.
func httpClient(caPEM []byte) (*http.Client, error) { return wire.HTTPClient(caPEM, "this gateway") }

// wireGuardKeyFile keeps the gateway's WireGuard key across restarts, so
// agents' tunnels (which name the gateway's public key) survive one.
const wireGuardKeyFile = "wireguard-key"

// LoadOrCreateWireGuardKey returns the WireGuard key kept in dir, making
// (and keeping, 0600) one on first use.
func LoadOrCreateWireGuardKey(dir string) (tunnel.PrivateKey, error) {
	path := filepath.Join(dir, wireGuardKeyFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		k, err := tunnel.NewPrivateKey()
		if err != nil {
			return k, err
		}
		return k, writeFile(path, []byte(k.String()))
	}
	if err != nil {
		return tunnel.PrivateKey{}, err
	}
	var k tunnel.PrivateKey
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(b) != len(k) {
		return k, fmt.Errorf("WireGuard key %s is corrupt; delete it to make a new one (agents then need new tunnels)", path)
	}
	copy(k[:], b)
	return k, nil
}
