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
	e, err := prepareEnrollment(o.StateDir, o.Controller, o.CAFile, o.LocalUID)
	if err != nil {
		return State{}, err
	}
	er, err := wire.EnrollDevice(ctx, e.client, e.st.Controller,
		api.EnrollRequest{Token: o.Token, PublicKey: base64.StdEncoding.EncodeToString(e.pub), Hostname: o.Hostname})
	if err != nil {
		return e.st, err
	}
	return e.save(o.Secrets, er.DeviceID, er.User)
}

// enrollment is what both ways of enrolling (a token, a sign-in) set up
// before asking the controller: the state to be, the controller's CA and
// an HTTPS client trusting it, and a new device key.
type enrollment struct {
	dir    string
	st     State
	caPEM  []byte
	client *http.Client
	pub    ed25519.PublicKey
	priv   ed25519.PrivateKey
}

func prepareEnrollment(stateDir, controller, caFile string, localUID *int) (*enrollment, error) {
	e := &enrollment{dir: stateDir, st: State{Controller: strings.TrimRight(controller, "/"), LocalUID: localUID}}
	if err := checkControllerURL(e.st.Controller); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	if caFile != "" {
		var err error
		if e.caPEM, err = os.ReadFile(caFile); err != nil {
			return nil, fmt.Errorf("read controller CA: %w", err)
		}
		e.st.CAFile = filepath.Join(stateDir, "controller-ca.pem")
	}
	var err error
	if e.client, err = httpClient(e.caPEM); err != nil {
		return nil, err
	}
	if e.pub, e.priv, err = ed25519.GenerateKey(rand.Reader); err != nil {
		return nil, fmt.Errorf("make device key: %w", err)
	}
	return e, nil
}

// save keeps the device key in secrets, the CA and the state (last: the
// state is what says the device is enrolled).
func (e *enrollment) save(secrets keystore.Store, deviceID, user string) (State, error) {
	e.st.DeviceID, e.st.User = deviceID, user
	if err := secrets.Set(deviceKeyName, e.priv); err != nil {
		return e.st, err
	}
	if e.caPEM != nil {
		if err := os.WriteFile(e.st.CAFile, e.caPEM, 0o644); err != nil {
			return e.st, err
		}
	}
	return e.st, saveState(e.dir, e.st)
}

// httpClient is wire.HTTPClient for device.
func httpClient(caPEM []byte) (*http.Client, error) { return wire.HTTPClient(caPEM, "this device") }
