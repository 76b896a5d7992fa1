package tunnel

import (
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/tun"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// packetTUN is a host TUN interface in a test: the test writes the
// packets the host sends (in) and reads those the Terminator answers
// with (out).
type packetTUN struct {
	in, out chan []byte
	done    chan struct{}
	events  chan tun.Event
}

func newPacketTUN() *packetTUN {
	return &packetTUN{in: make(chan []byte, 8), out: make(chan []byte, 8), done: make(chan struct{}), events: make(chan tun.Event, 1)}
}

func (p *packetTUN) File() *os.File           { return nil }
func (p *packetTUN) MTU() (int, error)        { return DefaultMTU, nil }
func (p *packetTUN) Name() (string, error)    { return "test", nil }
func (p *packetTUN) Events() <-chan tun.Event { return p.events }
func (p *packetTUN) BatchSize() int           { return 1 }
func (p *packetTUN) Close() error             { close(p.done); return nil }

func (p *packetTUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	select {
	case pkt := <-p.in:
		sizes[0] = copy(bufs[0][offset:], pkt)
		return 1, nil
	case <-p.done:
		return 0, os.ErrClosed
	}
}

func (p *packetTUN) Write(bufs [][]byte, offset int) (int, error) {
	for _, b := range bufs {
		select {
		case p.out <- append([]byte(nil), b[offset:]...):
		case <-p.done:
			return 0, os.ErrClosed
		}
	}
	return len(bufs), nil
}

// udpPacket is an IPv4 UDP datagram from src to dst.
func udpPacket(src, dst netip.AddrPort, payload []byte) []byte {
	pkt := make([]byte, header.IPv4MinimumSize+header.UDPMinimumSize+len(payload))
	ip := header.IPv4(pkt)
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(pkt)), TTL: 64, Protocol: uint8(header.UDPProtocolNumber),
		SrcAddr: tcpip.AddrFrom4(src.Addr().As4()), DstAddr: tcpip.AddrFrom4(dst.Addr().As4())})
	ip.SetChecksum(^ip.CalculateChecksum())
	udp := header.UDP(pkt[header.IPv4MinimumSize:])
	udp.Encode(&header.UDPFields{SrcPort: src.Port(), DstPort: dst.Port(), Length: uint16(header.UDPMinimumSize + len(payload))})
	copy(udp.Payload(), payload)
	xsum := header.PseudoHeaderChecksum(header.UDPProtocolNumber, ip.SourceAddress(), ip.DestinationAddress(), udp.Length())
	udp.SetChecksum(^udp.CalculateChecksum(checksum.Checksum(payload, xsum)))
	return pkt
}

// TestTerminatorAnswersUDPWithPortUnreachable: a datagram to an app's
// virtual IP (TUN mode carries TCP only) is answered at once with an
// ICMP port unreachable, so the sender's socket fails with "connection
// refused" instead of waiting for an answer that never comes.
func TestTerminatorAnswersUDPWithPortUnreachable(t *testing.T) {
	dev := newPacketTUN()
	term, err := NewTerminator(dev, func(q *FlowRequest) { q.Refuse() })
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	src, dst := netip.MustParseAddrPort("169.254.53.8:40000"), netip.MustParseAddrPort("100.80.0.1:53")
	dev.in <- udpPacket(src, dst, []byte("query"))
	select {
	case pkt := <-dev.out:
		ip := header.IPv4(pkt)
		if !ip.IsValid(len(pkt)) || ip.TransportProtocol() != header.ICMPv4ProtocolNumber {
			t.Fatalf("answer to a UDP datagram = %x, want an ICMPv4 packet", pkt)
		}
		icmp := header.ICMPv4(ip.Payload())
		if icmp.Type() != header.ICMPv4DstUnreachable || icmp.Code() != header.ICMPv4PortUnreachable {
			t.Fatalf("ICMP answer type %d code %d, want destination unreachable (3), port unreachable (3)", icmp.Type(), icmp.Code())
		}
		if got := netip.AddrFrom4(ip.DestinationAddress().As4()); got != src.Addr() {
			t.Errorf("ICMP answer sent to %s, want %s", got, src.Addr())
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no answer to a UDP datagram to an app's virtual IP within 2 s, want ICMP port unreachable at once")
	}
}
