//go:build !linux && !darwin

package localpeer

import "net"

// UnixOwnerChecked says UnixOwner does not work here: the local API
// socket's file mode (0600, the agent's own account) is the only check.
const UnixOwnerChecked = false

// UnixOwner is not implemented on this system.
func UnixOwner(c *net.UnixConn) (int, error) { return -1, ErrUnsupported }
