package tunnel

import (
	"encoding/binary"
	"errors"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// errSegment is a GSO packet from the netstack that cannot be cut into
// segments (it never should be: the netstack built it).
var errSegment = errors.New("malformed GSO packet from the netstack")

// tcpHeaderLen is the length of pkt's IP and TCP headers together.
func tcpHeaderLen(pkt []byte, gso stack.GSO) (int, bool) {
	l3 := int(gso.L3HdrLen)
	if l3 == 0 || len(pkt) < l3+header.TCPMinimumSize {
		return 0, false
	}
	l4 := int(header.TCP(pkt[l3:]).DataOffset())
	if l4 < header.TCPMinimumSize || len(pkt) < l3+l4 {
		return 0, false
	}
	return l3 + l4, true
}

// segment writes pkt, a packet the netstack handed over with host GSO
// options, into outs at offset as TCP segments of at most gso.MSS bytes of
// payload, each with its lengths, sequence number, IPv4 ID and checksums
// set (the netstack leaves the TCP checksum to the device). It starts at
// payload byte from and stops when outs are full; it returns how many
// segments it wrote and whether the packet is done.
func segment(pkt []byte, gso stack.GSO, from int, outs [][]byte, sizes []int, offset int) (n int, done bool, err error) {
	if gso.Type == stack.GSONone || !gso.NeedsCsum {
		if len(outs[0][offset:]) < len(pkt) {
			return 0, true, errSegment
		}
		sizes[0] = copy(outs[0][offset:], pkt)
		return 1, true, nil
	}
	hdrLen, ok := tcpHeaderLen(pkt, gso)
	if !ok {
		return 0, true, errSegment
	}
	l3 := int(gso.L3HdrLen)
	v4 := gso.Type == stack.GSOTCPv4
	payload := pkt[hdrLen:]
	mss := int(gso.MSS)
	if mss == 0 || len(payload) <= mss {
		mss = max(len(payload), 1)
	}
	seq := header.TCP(pkt[l3:]).SequenceNumber()
	flags := header.TCP(pkt[l3:]).Flags()
	var id uint16
	if v4 {
		id = header.IPv4(pkt).ID()
	}
	start := from
	for ; n < len(outs) && (start < len(payload) || start == 0); start += mss {
		end := min(start+mss, len(payload))
		out := outs[n][offset:]
		size := hdrLen + end - start
		if len(out) < size {
			return n, true, errSegment
		}
		copy(out, pkt[:hdrLen])
		copy(out[hdrLen:], payload[start:end])
		out = out[:size]
		tcp := header.TCP(out[l3:])
		tcp.SetSequenceNumber(seq + uint32(start))
		f := flags
		if end < len(payload) {
			f &^= header.TCPFlagFin | header.TCPFlagPsh
		}
		if start > 0 {
			f &^= header.TCPFlagCwr
		}
		tcp.SetFlags(uint8(f))
		var src, dst tcpip.Address
		if v4 {
			ip := header.IPv4(out)
			ip.SetTotalLength(uint16(size))
			ip.SetID(id + uint16(start/mss))
			ip.SetChecksum(0)
			ip.SetChecksum(^ip.CalculateChecksum())
			src, dst = ip.SourceAddress(), ip.DestinationAddress()
		} else {
			ip := header.IPv6(out)
			binary.BigEndian.PutUint16(out[4:], uint16(size-header.IPv6MinimumSize))
			src, dst = ip.SourceAddress(), ip.DestinationAddress()
		}
		tcp.SetChecksum(0)
		xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dst, uint16(size-l3))
		tcp.SetChecksum(^checksum.Checksum(out[l3:], xsum))
		sizes[n] = size
		n++
		if end == len(payload) {
			return n, true, nil
		}
	}
	return n, false, nil
}
