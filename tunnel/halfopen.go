package tunnel

import (
	"log/slog"
	"sync"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// Handshake limits of a Server; see ServerConfig and docs/decisions.md.
const (
	// DefaultMaxHalfOpenPerPeer is how many handshakes one peer may have in
	// progress: well above a browser's or a connection pool's burst.
	DefaultMaxHalfOpenPerPeer = 64
	// DefaultMaxHalfOpen is the forwarder's global limit: 64 peers at
	// their full per-peer cap at once before anyone else waits. A
	// handshake in progress costs about 53 KiB (endpoint and goroutine,
	// measured), so the cap also bounds that memory at about 210 MiB.
	DefaultMaxHalfOpen = 64 * DefaultMaxHalfOpenPerPeer
	// DefaultHandshakeTimeout ends a handshake the client does not complete:
	// the SYN-ACK goes out at 0, 1 s and 3 s, then the attempt is reset
	// (gVisor alone would retransmit for 127 s).
	DefaultHandshakeTimeout = 5 * time.Second
	// synDropLogEvery spaces the log lines about dropped SYNs, so a flood
	// cannot flood the log.
	synDropLogEvery = 10 * time.Second
)

// SYNStats counts a Server's handshakes, for metrics and tests.
type SYNStats struct {
	HalfOpen int    // handshakes in progress now
	Dropped  uint64 // SYNs dropped because their peer, or the server, was at its cap
	TimedOut uint64 // handshakes ended by HandshakeTimeout
}

// synVerdict is what to do with a SYN.
type synVerdict int

const (
	synNew       synVerdict = iota // a new tuple, counted: hand it to the forwarder
	synDuplicate                   // a retransmission of a tuple in progress: drop it
	synOverCap                     // its peer, or the server, is at its cap: drop it
)

// halfOpen counts handshakes in progress per source address (each peer
// owns one overlay /32, so a source is a peer) and in total, from a
// tuple's first SYN until its handshake completes or fails. It is the
// authority on which tuples reach the forwarder: its tuples are a
// superset of the forwarder's in-flight set (counted before, uncounted
// after), so the forwarder's own global limit is never the one that bites.
type halfOpen struct {
	perPeer, total int // the caps
	log            *slog.Logger

	mu       sync.Mutex                           // guards everything below
	tuples   map[stack.TransportEndpointID]uint32 // in progress → the client's initial sequence number
	bySource map[tcpip.Address]int                // in progress per source address
	stats    SYNStats
	// lastLog and unlogged rate-limit the drop log line.
	lastLog  time.Time
	unlogged uint64
}

func newHalfOpen(perPeer, total int, log *slog.Logger) *halfOpen {
	return &halfOpen{perPeer: perPeer, total: total, log: log,
		tuples: map[stack.TransportEndpointID]uint32{}, bySource: map[tcpip.Address]int{}}
}

// begin decides about a SYN for id with sequence number seq and, for a new
// tuple within the caps, counts it. A drop is logged at most once per
// synDropLogEvery, with the number of drops the line stands for.
func (h *halfOpen) begin(id stack.TransportEndpointID, seq uint32, now time.Time) synVerdict {
	src := id.RemoteAddress
	h.mu.Lock()
	if _, ok := h.tuples[id]; ok {
		h.mu.Unlock()
		return synDuplicate
	}
	if h.bySource[src] < h.perPeer && len(h.tuples) < h.total {
		h.tuples[id] = seq
		h.bySource[src]++
		h.stats.HalfOpen++
		h.mu.Unlock()
		return synNew
	}
	h.stats.Dropped++
	h.unlogged++
	var dropped uint64
	if now.Sub(h.lastLog) >= synDropLogEvery {
		h.lastLog, dropped, h.unlogged = now, h.unlogged, 0
	}
	perSource, total := h.bySource[src], len(h.tuples)
	h.mu.Unlock()
	if dropped > 0 {
		h.log.Warn("SYNs dropped: a peer or the gateway is at its half-open handshake cap",
			"src", addrFrom(src), "peer_half_open", perSource, "peer_cap", h.perPeer,
			"half_open", total, "cap", h.total, "dropped", dropped, "next_log_in", synDropLogEvery)
	}
	return synOverCap
}

// end uncounts id; its handshake completed or failed.
func (h *halfOpen) end(id stack.TransportEndpointID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.tuples[id]; !ok {
		return
	}
	delete(h.tuples, id)
	h.stats.HalfOpen--
	if h.bySource[id.RemoteAddress]--; h.bySource[id.RemoteAddress] == 0 {
		delete(h.bySource, id.RemoteAddress)
	}
}

// initialSeq is the client's initial sequence number for id, while its
// handshake is in progress.
func (h *halfOpen) initialSeq(id stack.TransportEndpointID) (uint32, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	seq, ok := h.tuples[id]
	return seq, ok
}

func (h *halfOpen) timedOut() {
	h.mu.Lock()
	h.stats.TimedOut++
	h.mu.Unlock()
}

func (h *halfOpen) snapshot() SYNStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stats
}

// handlePacket stands before the forwarder: a SYN for a new tuple takes a
// forwarder slot only if its peer is under its half-open cap. A SYN over
// the cap is dropped, not reset — as Linux drops SYNs when its queue is
// full — so a legitimate burst recovers with the client's own SYN
// retransmission, and a flood costs no reply.
func (s *Server) handlePacket(id stack.TransportEndpointID, pkt *stack.PacketBuffer) bool {
	seg := header.TCP(pkt.TransportHeader().Slice())
	if len(seg) < header.TCPMinimumSize || !seg.Flags().Contains(header.TCPFlagSyn) || seg.Flags().Contains(header.TCPFlagAck) {
		return s.fwd.HandlePacket(id, pkt) // not a first SYN: the forwarder ignores it too
	}
	switch s.half.begin(id, seg.SequenceNumber(), time.Now()) {
	case synDuplicate, synOverCap:
		return true
	}
	if !s.fwd.HandlePacket(id, pkt) { // malformed (say, a bad checksum): never reached the handler
		s.half.end(id)
		return false
	}
	return true
}

// abortHandshake ends the handshake of id if the client still has not
// completed it, by handing the netstack a reset from the client: the
// forwarder's blocked CreateEndpoint then fails, frees its slot, and the
// client is sent a reset. (gVisor ignores TCPSynRetriesOption for passive
// opens, so this deadline is the only way to shorten the SYN-ACK retries.)
// A client whose final ACK lands in the same instant may see its new
// connection reset; it took HandshakeTimeout to get there anyway.
func (s *Server) abortHandshake(id stack.TransportEndpointID) {
	seq, ok := s.half.initialSeq(id)
	if !ok {
		return
	}
	ep, ok := s.tun.stack.FindTransportEndpoint(netProtoOf(id), header.TCPProtocolNumber, id, nicID).(*tcp.Endpoint)
	if !ok || ep.EndpointState() != tcp.StateSynRecv {
		return
	}
	s.half.timedOut()
	rst := resetFromClient(id, seq+1)
	s.tun.Write([][]byte{rst}, 0)
}

// resetFromClient is an RST segment from id's remote (the client) to its
// local end, with sequence number seq.
func resetFromClient(id stack.TransportEndpointID, seq uint32) []byte {
	src, dst := id.RemoteAddress, id.LocalAddress
	var pkt []byte
	var seg header.TCP
	if src.Len() == header.IPv4AddressSize {
		pkt = make([]byte, header.IPv4MinimumSize+header.TCPMinimumSize)
		ip := header.IPv4(pkt)
		ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(pkt)), TTL: 64,
			Protocol: uint8(header.TCPProtocolNumber), SrcAddr: src, DstAddr: dst})
		ip.SetChecksum(^ip.CalculateChecksum())
		seg = header.TCP(pkt[header.IPv4MinimumSize:])
	} else {
		pkt = make([]byte, header.IPv6MinimumSize+header.TCPMinimumSize)
		header.IPv6(pkt).Encode(&header.IPv6Fields{PayloadLength: header.TCPMinimumSize,
			TransportProtocol: header.TCPProtocolNumber, HopLimit: 64, SrcAddr: src, DstAddr: dst})
		seg = header.TCP(pkt[header.IPv6MinimumSize:])
	}
	seg.Encode(&header.TCPFields{SrcPort: id.RemotePort, DstPort: id.LocalPort, SeqNum: seq,
		DataOffset: header.TCPMinimumSize, Flags: header.TCPFlagRst})
	seg.SetChecksum(^seg.CalculateChecksum(header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dst, header.TCPMinimumSize)))
	return pkt
}
