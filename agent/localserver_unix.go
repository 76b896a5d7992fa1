//go:build !windows

package agent

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/gatehouse-ztna/gatehouse/agent/localpeer"
)

// listenLocalAPI listens on the unix socket at path. Where the kernel
// names each caller (localpeer.UnixOwnerChecked) the socket is open to
// every account (0666) and allowCaller admits only the device's local
// user, root and the agent's own account: that lets a root service serve
// its user's CLI. Elsewhere the socket is 0600, the agent's account.
func (a *Agent) listenLocalAPI(path string) (net.Listener, error) {
	// A socket dir apart from the state dir (/run/gatehouse-agent for the
	// service) must be traversable by the user's CLI; it holds only the
	// socket.
	dirMode := os.FileMode(0o700)
	if filepath.Clean(filepath.Dir(path)) != filepath.Clean(a.cfg.StateDir) && localpeer.UnixOwnerChecked {
		dirMode = 0o755
	}
	if err := os.MkdirAll(filepath.Dir(path), dirMode); err != nil {
		return nil, fmt.Errorf("create socket dir: %w", err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("local API socket %s: %w", path, err)
	}
	sockMode := os.FileMode(0o600)
	if localpeer.UnixOwnerChecked {
		sockMode = 0o666
	}
	if err := os.Chmod(path, sockMode); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}
