package autostart

import (
	"fmt"
	"os"
	"path/filepath"
)

// entryPath is ~/Library/LaunchAgents/io.gatehouse.tray.plist; launchd
// loads it at the next login.
func entryPath() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no home dir for the LaunchAgent: %w", err)
	}
	return filepath.Join(home, "Library", "LaunchAgents", agentLabel+".plist"), nil
}

func entry(argv []string) string { return launchAgent(argv) }
