//go:build !windows

package localapi

import (
	"context"
	"net"
	"os"
	"path/filepath"
)

// StateSocket is the local API socket of the agent whose state dir is
// dir, when not told otherwise: agent.sock in it.
func StateSocket(dir string) string { return filepath.Join(dir, "agent.sock") }

// dialAgent connects to the agent's unix socket at path.
func dialAgent(ctx context.Context, path string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "unix", path)
}

// socketExists says whether something is at path.
func socketExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
