//go:build linux || darwin

package localpeer

import "net"

// UnixOwnerChecked says UnixOwner works here: the local API socket may be
// open to every account, since the agent checks each caller itself.
const UnixOwnerChecked = true

// UnixOwner is the uid of the process at the other end of a unix socket
// connection, as the kernel recorded it at connect.
func UnixOwner(c *net.UnixConn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	uid, credErr := -1, error(nil)
	if err := raw.Control(func(fd uintptr) { uid, credErr = peerUID(int(fd)) }); err != nil {
		return -1, err
	}
	return uid, credErr
}
