package autostart

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// plistPath is ~/Library/LaunchAgents/io.gatehouse.tray.plist; launchd
// loads it at the next login.
func plistPath() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no home dir for the LaunchAgent: %w", err)
	}
	return filepath.Join(home, "Library", "LaunchAgents", agentLabel+".plist"), nil
}

func install(argv []string) (string, error) {
	path, err := plistPath()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("making %s: %w", filepath.Dir(path), err)
	}
	return path, writeFile(path, launchAgent(argv))
}

func remove() (string, error) {
	path, err := plistPath()
	if err != nil {
		return "", err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return path, err
	}
	return path, nil
}
