package autostart

import (
	"fmt"
	"os"
	"path/filepath"
)

// entryPath is $XDG_CONFIG_HOME/autostart/gatehouse-tray.desktop
// ($XDG_CONFIG_HOME defaults to ~/.config).
func entryPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no config dir for the autostart entry (set HOME or XDG_CONFIG_HOME): %w", err)
	}
	return filepath.Join(dir, "autostart", desktopFile), nil
}

func entry(argv []string) string { return desktopEntry(argv) }
