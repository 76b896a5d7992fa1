// Package keystore keeps the agent's secrets — its device key and tokens —
// in the OS keyring, or, where none exists (a headless service), in 0600
// files under the agent's state dir, and says plainly which.
//
// Imported by agent and cmd/gatehouse-agent.
package keystore

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/zalando/go-keyring"
)

// ErrNotFound means no secret of that name is stored.
var ErrNotFound = errors.New("secret not found")

// Store holds named secrets.
type Store interface {
	// Get returns the secret, or ErrNotFound.
	Get(name string) ([]byte, error)
	// Set stores (or replaces) the secret.
	Set(name string, secret []byte) error
	// Delete removes the secret; deleting a missing one is not an error.
	Delete(name string) error
	// Where says in words where secrets live, for `gatehouse status`.
	Where() string
}

// Open returns the OS keyring when it works here, else a file store under
// dir. service namespaces the keyring entries (one agent per state dir).
func Open(service, dir string) Store {
	k := Keyring{Service: service}
	if k.probe() == nil {
		return k
	}
	return Files{Dir: dir}
}

// Keyring stores secrets in the OS keyring (Secret Service, Keychain,
// Windows Credential Manager).
type Keyring struct{ Service string }

var _ Store = Keyring{}

func (k Keyring) probe() error {
	const name = "gatehouse-probe"
	if err := keyring.Set(k.Service, name, "ok"); err != nil {
		return err
	}
	return keyring.Delete(k.Service, name)
}

func (k Keyring) Get(name string) ([]byte, error) {
	v, err := keyring.Get(k.Service, name)
	if errors.Is(err, keyring.ErrNotFound) {
		return nil, fmt.Errorf("%s in OS keyring: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s from OS keyring: %w", name, err)
	}
	return base64.StdEncoding.DecodeString(v)
}

func (k Keyring) Set(name string, secret []byte) error {
	if err := keyring.Set(k.Service, name, base64.StdEncoding.EncodeToString(secret)); err != nil {
		return fmt.Errorf("write %s to OS keyring: %w", name, err)
	}
	return nil
}

func (k Keyring) Delete(name string) error {
	if err := keyring.Delete(k.Service, name); err != nil && !errors.Is(err, keyring.ErrNotFound) {
		return fmt.Errorf("delete %s from OS keyring: %w", name, err)
	}
	return nil
}

func (k Keyring) Where() string { return "OS keyring (service " + k.Service + ")" }

// Files stores each secret in its own 0600 file under Dir (made 0700).
type Files struct{ Dir string }

var _ Store = Files{}

var secretName = regexp.MustCompile(`^[a-z0-9_-]+$`)

func (f Files) path(name string) (string, error) {
	if !secretName.MatchString(name) {
		return "", fmt.Errorf("secret name %q: use lowercase letters, digits, '-' and '_'", name)
	}
	return filepath.Join(f.Dir, "secrets", name), nil
}

func (f Files) Get(name string) ([]byte, error) {
	p, err := f.path(name)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", p, ErrNotFound)
	}
	return b, err
}

// Set writes through a temporary file and a rename, so a crash leaves
// either the old secret or the new one, never half of one.
func (f Files) Set(name string, secret []byte) error {
	p, err := f.path(name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("create secrets dir: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), name+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(secret); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}

func (f Files) Delete(name string) error {
	p, err := f.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func (f Files) Where() string {
	return "0600 files under " + filepath.Join(f.Dir, "secrets") + " (no OS keyring on this machine)"
}
