// Package keystore keeps the agent's secrets — its device key and its
// signed-in session's tokens — in the OS keyring, or, where none exists (a
// headless service), in 0600 files owned by the agent's user under its
// state dir, and says plainly which. A secret file that others may read or
// that another user owns is refused, never used.
//
// Imported by agent, cmd/gatehouse-agent and cmd/gatehouse (the admin
// CLI's key and session).
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

// Store holds named secrets. No method puts a secret in its error.
type Store interface {
	// Get returns the secret, or ErrNotFound.
	Get(name string) ([]byte, error)
	// Set stores (or replaces) the secret in one step: after a crash the
	// store holds the old secret or the new one, never a mix.
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
	if k.Probe() == nil {
		return k
	}
	return Files{Dir: dir}
}

// Keyring stores secrets in the OS keyring (Secret Service, Keychain,
// Windows Credential Manager).
type Keyring struct{ Service string }

var _ Store = Keyring{}

// Probe writes and deletes a throwaway entry: an error means no usable
// keyring here (no Secret Service on the session bus, a locked keyring).
func (k Keyring) Probe() error {
	if err := sessionBus(); err != nil {
		return err
	}
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
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("%s in OS keyring is not what this agent stored (not base64)", name)
	}
	return b, nil
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

// Where names the platform's keyring (keyringName, one per OS file).
func (k Keyring) Where() string { return "OS keyring (" + keyringName + ")" }

// Files stores each secret in its own 0600 file under Dir/secrets (made
// 0700). A file or directory that others may read or write, or that
// another user owns, is refused: its secret may be known, or planted.
type Files struct{ Dir string }

var _ Store = Files{}

var secretName = regexp.MustCompile(`^[a-z0-9_-]+$`)

func (f Files) dir() string { return filepath.Join(f.Dir, "secrets") }

func (f Files) path(name string) (string, error) {
	if !secretName.MatchString(name) {
		return "", fmt.Errorf("secret name %q: use lowercase letters, digits, '-' and '_'", name)
	}
	return filepath.Join(f.dir(), name), nil
}

func (f Files) Get(name string) ([]byte, error) {
	p, err := f.path(name)
	if err != nil {
		return nil, err
	}
	if err := checkPrivateDir(f.dir()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	link, err := os.Lstat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", p, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if !link.Mode().IsRegular() {
		return nil, fmt.Errorf("secret file %s is not a regular file (a link?): remove it, then enroll or sign in again", p)
	}
	file, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	// The checks look at the file opened, not at the name, so a swap
	// between the check and the read is caught.
	info, err := file.Stat()
	if err != nil {
		return nil, err
	}
	if err := checkPrivate(p, info, 0o600); err != nil {
		return nil, err
	}
	b := make([]byte, info.Size())
	if _, err := file.ReadAt(b, 0); err != nil && info.Size() > 0 {
		return nil, fmt.Errorf("read secret file %s: %w", p, err)
	}
	return b, nil
}

// Set writes through a temporary file and a rename, so a crash leaves
// either the old secret or the new one, never half of one.
func (f Files) Set(name string, secret []byte) error {
	p, err := f.path(name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(f.dir(), 0o700); err != nil {
		return fmt.Errorf("create secrets dir: %w", err)
	}
	if err := checkPrivateDir(f.dir()); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(f.dir(), name+".tmp*")
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
	if err := os.Rename(tmp.Name(), p); err != nil {
		return err
	}
	return syncDir(f.dir())
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
	return "0600 files under " + f.dir() + " (no OS keyring on this host)"
}

// checkPrivateDir refuses a secrets dir that others may use.
func checkPrivateDir(dir string) error {
	info, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return fmt.Errorf("secrets dir %s is not a directory: remove it, then enroll or sign in again", dir)
	}
	return checkPrivate(dir, info, 0o700)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	d.Sync() // not every OS can sync a directory; the rename stands anyway
	return nil
}
