package autostart

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// desktopPath is $XDG_CONFIG_HOME/autostart/gatehouse-tray.desktop
// ($XDG_CONFIG_HOME defaults to ~/.config).
func desktopPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no config dir for the autostart entry (set HOME or XDG_CONFIG_HOME): %w", err)
	}
	return filepath.Join(dir, "autostart", desktopFile), nil
}

func install(argv []string) (string, error) {
	path, err := desktopPath()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("making %s: %w", filepath.Dir(path), err)
	}
	return path, writeFile(path, desktopEntry(argv))
}

func remove() (string, error) {
	path, err := desktopPath()
	if err != nil {
		return "", err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return path, err
	}
	return path, nil
}
