//go:build linux || darwin

package autostart

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// On Linux and macOS the entry is a file: entryPath says where, entry what.

func install(argv []string) (string, error) {
	path, err := entryPath()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("making %s: %w", filepath.Dir(path), err)
	}
	return path, writeFile(path, entry(argv))
}

func remove() (string, error) {
	path, err := entryPath()
	if err != nil {
		return "", err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return path, err
	}
	return path, nil
}
