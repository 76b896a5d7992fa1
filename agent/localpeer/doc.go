// Package localpeer tells who is on the other end of a TCP connection the
// agent accepted on loopback: the local user that owns the caller's socket,
// and how much of what the agent sent the caller has not read yet. The
// agent uses the first to serve only the device's user on its proxy ports,
// and the second to keep a slow reader's backlog small so that an aborted
// connection ends for it at once.
//
// For the local API's unix socket, UnixOwner reads the caller's uid from
// the kernel (SO_PEERCRED on Linux, LOCAL_PEERCRED on macOS). On Windows
// the local API is a named pipe: PipeSDDL is its ACL and PipeClient reads
// the caller from its token.
//
// Linux asks the kernel through sock_diag (NETLINK_INET_DIAG) for the exact
// socket of the connection's 4-tuple. Other systems have no implementation
// yet: there every call fails, and the agent refuses every caller.
//
// Imported by agent, agent/localapi (the pipe client's access, Windows),
// and by agent/tunmode for the owner of a flow
// routed into the TUN interface (SocketOwner).
package localpeer

import "errors"

// ErrUnsupported is returned on systems where the caller cannot be found.
var ErrUnsupported = errors.New("finding the local user behind a connection is not implemented on this system")
