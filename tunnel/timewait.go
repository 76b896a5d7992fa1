package tunnel

import (
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// recycleTimeWait sees each packet out of WireGuard before the netstack
// does. A first SYN for a tuple the gateway holds in TIME_WAIT ends that
// TIME_WAIT, as Linux does, so the new connection reaches the forwarder:
// gVisor hands such a SYN only to a listening endpoint, and a forwarder is
// none, so without this a client that reuses a source port within a
// minute cannot connect (its SYNs vanish). Only a peer can send from its
// overlay address, so a peer can end only its own TIME_WAITs.
func (s *Server) recycleTimeWait(pkt []byte) {
	id, ok := firstSYN(pkt)
	if !ok {
		return
	}
	find := func() (*tcp.Endpoint, bool) {
		ep, ok := s.tun.stack.FindTransportEndpoint(netProtoOf(id), header.TCPProtocolNumber, id, nicID).(*tcp.Endpoint)
		return ep, ok && ep.EndpointState() == tcp.StateTimeWait
	}
	ep, ok := find()
	if !ok {
		return
	}
	ep.Abort() // its RST carries the old connection's numbers; the client's new SYN-SENT ignores it
	// The abort may finish on the endpoint's own goroutine: until the
	// tuple is free, the SYN would still reach the TIME_WAIT endpoint and
	// vanish. Wait for it, briefly (a busy machine; rare: first SYNs on a
	// tuple in TIME_WAIT only).
	for range timeWaitSpins {
		if _, still := find(); !still {
			return
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// timeWaitSpins bounds the wait for an aborted TIME_WAIT to free its
// tuple: 200 × 50 µs, 10 ms at most.
const timeWaitSpins = 200

// firstSYN reads the tuple of pkt (as the server's netstack names it:
// local is the destination) if pkt is an unfragmented TCP segment with
// SYN set and ACK clear.
func firstSYN(pkt []byte) (stack.TransportEndpointID, bool) {
	var id stack.TransportEndpointID
	var seg []byte
	switch {
	case len(pkt) >= header.IPv4MinimumSize && pkt[0]>>4 == 4:
		ip := header.IPv4(pkt)
		hl := int(ip.HeaderLength())
		if ip.Protocol() != uint8(header.TCPProtocolNumber) || ip.FragmentOffset() != 0 || ip.More() || hl < header.IPv4MinimumSize || len(pkt) < hl {
			return id, false
		}
		id.RemoteAddress, id.LocalAddress = ip.SourceAddress(), ip.DestinationAddress()
		seg = pkt[hl:]
	case len(pkt) >= header.IPv6MinimumSize && pkt[0]>>4 == 6:
		ip := header.IPv6(pkt)
		if ip.TransportProtocol() != header.TCPProtocolNumber {
			return id, false // extension headers: leave it to the netstack
		}
		id.RemoteAddress, id.LocalAddress = ip.SourceAddress(), ip.DestinationAddress()
		seg = pkt[header.IPv6MinimumSize:]
	default:
		return id, false
	}
	if len(seg) < header.TCPMinimumSize {
		return id, false
	}
	t := header.TCP(seg)
	if !t.Flags().Contains(header.TCPFlagSyn) || t.Flags().Contains(header.TCPFlagAck) {
		return id, false
	}
	id.RemotePort, id.LocalPort = t.SourcePort(), t.DestinationPort()
	return id, true
}
