package localapi

import (
	"os"
	"path/filepath"
)

// DefaultStateDir is where the agent keeps its state when not told
// otherwise: the user's config dir (the service passes its own).
func DefaultStateDir() string {
	if dir, err := os.UserConfigDir(); err == nil {
		return filepath.Join(dir, "gatehouse")
	}
	return ".gatehouse"
}

// DefaultSocket is the local API socket inside DefaultStateDir.
func DefaultSocket() string { return filepath.Join(DefaultStateDir(), "agent.sock") }
