//go:build linux || darwin

package autostart

import (
	"fmt"
	"os"
	"path/filepath"
)

// writeFile replaces path with content atomically (a temporary file
// renamed over it), mode 0644: the session reads it, only the user writes.
func writeFile(path, content string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".gatehouse-tray-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after the rename, nothing to remove
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
