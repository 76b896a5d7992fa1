package tunnel

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
)

// TestTerminatorHoldsEachSYNForItsHandler stands a client netstack in for
// the host behind the TUN: a flow its handler refuses fails at once with
// a reset, one it accepts carries data both ways.
func TestTerminatorHoldsEachSYNForItsHandler(t *testing.T) {
	host, err := newStackTUN(DefaultMTU)
	if err != nil {
		t.Fatal(err)
	}
	hostAddr := netip.MustParseAddr("169.254.53.8")
	if err := host.address(hostAddr); err != nil {
		t.Fatal(err)
	}
	refused := netip.MustParseAddrPort("100.80.0.9:80")
	term, err := NewTerminator(host, func(q *FlowRequest) {
		if q.Dst == refused || q.Src.Addr() != hostAddr {
			q.Refuse()
			return
		}
		f, err := q.Accept()
		if err != nil {
			return
		}
		defer f.Close()
		io.Copy(f, f) // echo until the client closes
	})
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()

	dial := func(dst netip.AddrPort) (*gonet.TCPConn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return gonet.DialContextTCP(ctx, host.stack, tcpip.FullAddress{NIC: nicID, Addr: tcpip.AddrFromSlice(dst.Addr().AsSlice()), Port: dst.Port()}, ipv4.ProtocolNumber)
	}
	start := time.Now()
	if c, err := dial(refused); err == nil {
		c.Close()
		t.Errorf("dial %s = connected, want refused", refused)
	} else if took := time.Since(start); took > time.Second {
		t.Errorf("dial %s refused after %s, want at once (a reset)", refused, took)
	}

	ok := netip.MustParseAddrPort("100.80.0.1:3000")
	c, err := dial(ok)
	if err != nil {
		t.Fatalf("dial %s: %v", ok, err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	assertEcho(t, c)
}

// assertEcho writes ping on c and wants it back.
func assertEcho(t *testing.T, c net.Conn) {
	t.Helper()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo = %q, %v, want %q", buf, err, "ping")
	}
}
