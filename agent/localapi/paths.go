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
func DefaultSocket() string { return StateSocket(DefaultStateDir()) }

// FindSocket is the socket the CLI talks to when not told: the user's own
// agent's (DefaultSocket) when it exists, else the system service's when
// that exists, else DefaultSocket (so errors name it).
func FindSocket() string { return findSocket(DefaultSocket(), ServiceSocket) }

func findSocket(own, service string) string {
	if socketExists(own) {
		return own
	}
	if socketExists(service) {
		return service
	}
	return own
}
