// Package instance keeps the tray to one per user: a lock file in the
// user's runtime dir, held (flock on Unix, LockFileEx on Windows) for the
// process's life, so the OS frees it when the process dies however it
// ends. Pure Go, cross-built by make's cross-check.
//
// Imported by cmd/gatehouse-tray.
package instance

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrRunning: another process holds the lock.
var ErrRunning = errors.New("gatehouse-tray is already running for this user (look for its icon in the tray, or its window)")

// Lock is the held lock; Release frees it.
type Lock struct{ f *os.File }

// Dir is the user's runtime dir ($XDG_RUNTIME_DIR: per user, 0700, gone at
// logout), else a gatehouse folder in the user's cache dir.
func Dir() (string, error) {
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		return dir, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no runtime or cache dir for the tray's lock (set XDG_RUNTIME_DIR or HOME): %w", err)
	}
	dir := filepath.Join(cache, "gatehouse")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("making %s for the tray's lock: %w", dir, err)
	}
	return dir, nil
}

// Acquire takes the lock in dir, or fails with ErrRunning while another
// process holds it.
func Acquire(dir string) (*Lock, error) {
	return acquire(filepath.Join(dir, "gatehouse-tray.lock"))
}

// AcquireWindow takes the lock of one window (by name) in dir: a window
// the tray opens in a process of its own is open at most once. It is not
// the tray's lock, which the tray holds while its windows run.
func AcquireWindow(dir, name string) (*Lock, error) {
	return acquire(filepath.Join(dir, "gatehouse-tray-window-"+name+".lock"))
}

func acquire(path string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the tray's lock %s: %w", path, err)
	}
	if err := lock(f); err != nil {
		f.Close()
		return nil, err
	}
	return &Lock{f: f}, nil
}

// Release frees the lock (closing the file frees it).
func (l *Lock) Release() error { return l.f.Close() }
