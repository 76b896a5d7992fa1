//go:build !linux

package localpeer

import (
	"net"
	"net/netip"
)

// Owner fails closed: this system has no way implemented to find who is
// calling, so the agent refuses every local connection.
func Owner(c *net.TCPConn) (int, error) { return -1, ErrUnsupported }

// Unread is not known here; the agent then writes without pacing.
func Unread(c *net.TCPConn) (int, error) { return 0, ErrUnsupported }

// SocketOwner fails closed: TUN mode then refuses every flow.
func SocketOwner(src, dst netip.AddrPort) (int, error) { return -1, ErrUnsupported }
