package localpeer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// Layout of the kernel's inet_diag structures (linux/inet_diag.h).
const (
	sizeofSockID  = 48 // inet_diag_sockid
	sizeofReqV2   = 8 + sizeofSockID
	sizeofDiagMsg = 4 + sizeofSockID + 20 // inet_diag_msg
	noCookie      = ^uint32(0)            // INET_DIAG_NOCOOKIE
	nlmsgHdrLen   = unix.SizeofNlMsghdr
)

// TCP states as the kernel numbers them (include/net/tcp_states.h).
const (
	tcpEstablished = 1
	tcpSynSent     = 2
	tcpFinWait1    = 4
	tcpFinWait2    = 5
	tcpCloseWait   = 8
	tcpLastAck     = 9
	tcpClosing     = 11
)

// diag is the kernel's answer about one socket.
type diag struct {
	state    uint8
	src, dst netip.AddrPort
	rqueue   uint32 // established: bytes received and not yet read
	uid      uint32
}

// Owner returns the uid owning the caller's socket of c, a connection the
// agent accepted. Only a full socket in a connected state counts: a
// time-wait or listening socket carries no owner, and is an error.
func Owner(c *net.TCPConn) (int, error) {
	d, err := peerSocket(c)
	if err != nil {
		return -1, err
	}
	switch d.state {
	case tcpEstablished, tcpFinWait1, tcpFinWait2, tcpCloseWait, tcpLastAck, tcpClosing:
		return int(d.uid), nil
	}
	return -1, fmt.Errorf("the caller's socket %s is in TCP state %d, not connected", d.src, d.state)
}

// SocketOwner returns the uid owning this host's TCP socket from src to
// dst while it connects or is connected: TUN mode asks it about the
// socket whose SYN it holds, since the route alone does not keep other
// users off the interface.
func SocketOwner(src, dst netip.AddrPort) (int, error) {
	src, dst = unmap(src), unmap(dst)
	if src.Addr().Is4() != dst.Addr().Is4() {
		return -1, fmt.Errorf("flow %s -> %s mixes address families", src, dst)
	}
	family := uint8(unix.AF_INET6)
	if src.Addr().Is4() {
		family = unix.AF_INET
	}
	d, err := exactGet(family, src, dst)
	if err != nil {
		return -1, fmt.Errorf("find the socket of flow %s -> %s: %w", src, dst, err)
	}
	if d.src != src || d.dst != dst {
		return -1, fmt.Errorf("the kernel answered for socket %s -> %s, not %s -> %s", d.src, d.dst, src, dst)
	}
	switch d.state {
	case tcpSynSent, tcpEstablished:
		return int(d.uid), nil
	}
	return -1, fmt.Errorf("the socket %s -> %s is in TCP state %d, not connecting", src, dst, d.state)
}

// Unread returns how many bytes sent on c the caller has not read yet:
// those in the caller's receive queue plus those still in c's send queue.
func Unread(c *net.TCPConn) (int, error) {
	d, err := peerSocket(c)
	if err != nil {
		return 0, err
	}
	outq, err := sendQueue(c)
	if err != nil {
		return 0, err
	}
	return int(d.rqueue) + outq, nil
}

// sendQueue is SIOCOUTQ on c: bytes written and not yet acknowledged.
func sendQueue(c *net.TCPConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var ierr error
	if err := rc.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ) }); err != nil {
		return 0, err
	}
	if ierr != nil {
		return 0, fmt.Errorf("send queue of %s: %w", c.LocalAddr(), ierr)
	}
	return n, nil
}

// peerSocket asks the kernel for the socket at the other end of c: the one
// whose local address is c's remote address and whose remote address is
// c's local address. The request names the exact 4-tuple (not a dump
// filtered by ports, which can answer with another socket that shares the
// port pair), and the answer is checked against it.
func peerSocket(c *net.TCPConn) (diag, error) {
	local, lok := c.LocalAddr().(*net.TCPAddr)
	remote, rok := c.RemoteAddr().(*net.TCPAddr)
	if !lok || !rok {
		return diag{}, errors.New("not a TCP connection")
	}
	// The caller's socket: source = our remote end, destination = our local end.
	src, dst := unmap(remote.AddrPort()), unmap(local.AddrPort())
	if src.Addr().Is4() != dst.Addr().Is4() {
		return diag{}, fmt.Errorf("connection %s -> %s mixes address families", src, dst)
	}
	family := uint8(unix.AF_INET6)
	if src.Addr().Is4() {
		family = unix.AF_INET
	}
	d, err := exactGet(family, src, dst)
	if err != nil {
		return diag{}, fmt.Errorf("find the socket of local caller %s: %w", src, err)
	}
	if d.src != src || d.dst != dst {
		return diag{}, fmt.Errorf("the kernel answered for socket %s -> %s, not %s -> %s", d.src, d.dst, src, dst)
	}
	return d, nil
}

func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// exactGet sends one SOCK_DIAG_BY_FAMILY request without NLM_F_DUMP, which
// the kernel answers by looking the 4-tuple up in its socket tables.
func exactGet(family uint8, src, dst netip.AddrPort) (diag, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_INET_DIAG)
	if err != nil {
		return diag{}, fmt.Errorf("open sock_diag socket: %w", err)
	}
	defer unix.Close(fd)
	// A reply that does not come is an error, never a hang.
	tv := unix.Timeval{Sec: 1}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return diag{}, err
	}
	const seq = 1
	msg := make([]byte, nlmsgHdrLen+sizeofReqV2)
	ne := binary.NativeEndian
	ne.PutUint32(msg[0:], uint32(len(msg)))
	ne.PutUint16(msg[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(msg[6:], unix.NLM_F_REQUEST)
	ne.PutUint32(msg[8:], seq)
	req := msg[nlmsgHdrLen:]
	req[0] = family
	req[1] = unix.IPPROTO_TCP
	ne.PutUint32(req[4:], ^uint32(0)) // every state
	putSockID(req[8:], src, dst)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return diag{}, fmt.Errorf("ask sock_diag: %w", err)
	}
	buf := make([]byte, 4096)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return diag{}, fmt.Errorf("read sock_diag answer: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return diag{}, fmt.Errorf("parse sock_diag answer: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != seq {
				continue
			}
			switch m.Header.Type {
			case unix.NLMSG_ERROR:
				if len(m.Data) < 4 {
					return diag{}, errors.New("short sock_diag error")
				}
				errno := -int32(ne.Uint32(m.Data))
				if errno == int32(unix.ENOENT) {
					return diag{}, errors.New("no such socket (the caller is gone, or not on this host)")
				}
				return diag{}, fmt.Errorf("sock_diag: %w", syscall.Errno(errno))
			case unix.SOCK_DIAG_BY_FAMILY:
				return parseDiag(m.Data)
			}
		}
	}
}

// putSockID writes an inet_diag_sockid for src -> dst.
func putSockID(b []byte, src, dst netip.AddrPort) {
	binary.BigEndian.PutUint16(b[0:], src.Port())
	binary.BigEndian.PutUint16(b[2:], dst.Port())
	putAddr(b[4:20], src.Addr())
	putAddr(b[20:36], dst.Addr())
	ne := binary.NativeEndian
	ne.PutUint32(b[36:], 0) // any interface
	ne.PutUint32(b[40:], noCookie)
	ne.PutUint32(b[44:], noCookie)
}

func putAddr(b []byte, a netip.Addr) {
	if a.Is4() {
		v := a.As4()
		copy(b, v[:])
		return
	}
	v := a.As16()
	copy(b, v[:])
}

func parseDiag(b []byte) (diag, error) {
	if len(b) < sizeofDiagMsg {
		return diag{}, fmt.Errorf("short sock_diag answer (%d bytes)", len(b))
	}
	family := b[0]
	id := b[4:]
	addr := func(raw []byte) netip.Addr {
		if family == unix.AF_INET {
			return netip.AddrFrom4([4]byte(raw[:4]))
		}
		return netip.AddrFrom16([16]byte(raw[:16])).Unmap()
	}
	ne := binary.NativeEndian
	return diag{
		state:  b[1],
		src:    netip.AddrPortFrom(addr(id[4:20]), binary.BigEndian.Uint16(id[0:])),
		dst:    netip.AddrPortFrom(addr(id[20:36]), binary.BigEndian.Uint16(id[2:])),
		rqueue: ne.Uint32(b[4+sizeofSockID+4:]),
		uid:    ne.Uint32(b[4+sizeofSockID+12:]),
	}, nil
}
