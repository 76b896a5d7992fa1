package agent

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

	"github.com/gatehouse-ztna/gatehouse/agent/keystore"
	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/wire"
)

// deviceKeyName is the keystore entry holding the Ed25519 device key.
const deviceKeyName = "device-key"

// State is what an enrolled agent remembers; it holds no secrets.
type State struct {
	Controller string `json:"controller"`
	// CAFile is a copy of the controller's CA, empty to use system roots.
	CAFile   string `json:"ca_file,omitempty"`
	DeviceID string `json:"device_id"`
	User     string `json:"user"`
	// LocalPorts remembers each app port's local proxy port ("app/port").
	LocalPorts map[string]int `json:"local_ports,omitempty"`
	// LocalUID is the local user who enrolled the device, the only one
	// the proxy ports serve; absent: the user running the agent.
	LocalUID *int `json:"local_uid,omitempty"`
}

func statePath(dir string) string { return filepath.Join(dir, "state.json") }

// LoadState reads the agent's state; an unenrolled agent gets a clear error.
func LoadState(dir string) (State, error) {
	var st State
	b, err := os.ReadFile(statePath(dir))
	if errors.Is(err, os.ErrNotExist) {
		return st, fmt.Errorf("this device is not enrolled (no %s): run `gatehouse-agent enroll --controller URL --token TOKEN`", statePath(dir))
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s is corrupt: %w (enroll again)", statePath(dir), err)
	}
	return st, nil
}

// saveState writes atomically so a crash never leaves half a file.
func saveState(dir string, st State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := statePath(dir) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write agent state: %w", err)
	}
	return os.Rename(tmp, statePath(dir))
}

// EnrollOptions are the inputs of `gatehouse-agent enroll`.
type EnrollOptions struct {
	StateDir   string
	Controller string // base URL, https://host:port
	Token      string
	CAFile     string // PEM of the controller's CA; empty for system roots
	Hostname   string
	Secrets    keystore.Store
	// LocalUID is recorded as the device's local user (see EnrollingUID);
	// nil records none.
	LocalUID *int
}

// checkControllerURL applies api.CheckControllerURL: https, plain http
// only to a controller on this machine.
func checkControllerURL(raw string) error {
	err := api.CheckControllerURL(raw)
	if errors.Is(err, api.ErrPlainHTTPOffLoopback) {
		return fmt.Errorf("%w; use https:// (and --ca with the controller's CA file)", err)
	}
	return err
}

// Enroll makes the device key, registers it with the enrollment token, and
// saves the state. On any error nothing is saved.
func Enroll(ctx context.Context, o EnrollOptions) (State, error) {
	st := State{Controller: strings.TrimRight(o.Controller, "/"), LocalUID: o.LocalUID}
	if err := checkControllerURL(st.Controller); err != nil {
		return st, err
	}
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return st, fmt.Errorf("create state dir: %w", err)
	}
	var caPEM []byte
	if o.CAFile != "" {
		var err error
		if caPEM, err = os.ReadFile(o.CAFile); err != nil {
			return st, fmt.Errorf("read controller CA: %w", err)
		}
		st.CAFile = filepath.Join(o.StateDir, "controller-ca.pem")
	}
	client, err := httpClient(caPEM)
	if err != nil {
		return st, err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return st, fmt.Errorf("make device key: %w", err)
	}
	er, err := wire.EnrollDevice(ctx, client, st.Controller,
		api.EnrollRequest{Token: o.Token, PublicKey: base64.StdEncoding.EncodeToString(pub), Hostname: o.Hostname})
	if err != nil {
		return st, err
	}
	st.DeviceID, st.User = er.DeviceID, er.User
	if err := o.Secrets.Set(deviceKeyName, priv); err != nil {
		return st, err
	}
	if caPEM != nil {
		if err := os.WriteFile(st.CAFile, caPEM, 0o644); err != nil {
			return st, err
		}
	}
	return st, saveState(o.StateDir, st)
}

// httpClient is wire.HTTPClient for device.
func httpClient(caPEM []byte) (*http.Client, error) { return wire.HTTPClient(caPEM, "this device") }
