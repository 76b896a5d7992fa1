package tunnel

import (
	"bytes"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// TestSegmentCutsAtTheMSS cuts a 4,500-byte TCP segment (FIN|PSH|ACK)
// into 1,000-byte ones over two rounds of buffers, as Read does when
// WireGuard's run out: every segment is valid on its own (lengths, IPv4
// ID, both checksums), sequence numbers follow, FIN and PSH stay on the
// last, and the payloads put together are the original.
func TestSegmentCutsAtTheMSS(t *testing.T) {
	const l3, l4, mss, seq = header.IPv4MinimumSize, header.TCPMinimumSize, 1000, 77
	payload := make([]byte, 4500)
	for i := range payload {
		payload[i] = byte(i * 31)
	}
	src, dst := tcpip.AddrFrom4([4]byte{100, 64, 0, 2}), tcpip.AddrFrom4([4]byte{100, 80, 0, 1})
	pkt := make([]byte, l3+l4+len(payload))
	header.IPv4(pkt).Encode(&header.IPv4Fields{TotalLength: uint16(len(pkt)), ID: 9, TTL: 64,
		Protocol: uint8(header.TCPProtocolNumber), SrcAddr: src, DstAddr: dst})
	header.TCP(pkt[l3:]).Encode(&header.TCPFields{SrcPort: 4000, DstPort: 80, SeqNum: seq, AckNum: 5, DataOffset: l4,
		Flags: header.TCPFlagAck | header.TCPFlagPsh | header.TCPFlagFin, WindowSize: 1000})
	copy(pkt[l3+l4:], payload)
	gso := stack.GSO{Type: stack.GSOTCPv4, NeedsCsum: true, CsumOffset: header.TCPChecksumOffset, MSS: mss, L3HdrLen: l3}

	const offset = 16
	var got [][]byte
	from := 0
	for round, room := range []int{2, 8} {
		outs, sizes := make([][]byte, room), make([]int, room)
		for i := range outs {
			outs[i] = make([]byte, offset+DefaultMTU)
		}
		n, done, err := segment(pkt, gso, from, outs, sizes, offset)
		if err != nil || done != (round == 1) {
			t.Fatalf("segment round %d = %d, done %v, %v; want done only in the last round", round, n, done, err)
		}
		for i := range n {
			got = append(got, outs[i][offset:offset+sizes[i]])
		}
		from += n * mss
	}
	if len(got) != 5 {
		t.Fatalf("segments = %d, want 5", len(got))
	}
	var joined []byte
	for i, s := range got {
		ip := header.IPv4(s)
		if !ip.IsValid(len(s)) || !ip.IsChecksumValid() || ip.ID() != uint16(9+i) {
			t.Errorf("segment %d: IPv4 header valid %v, checksum valid %v, ID %d; want valid, valid, %d", i, ip.IsValid(len(s)), ip.IsChecksumValid(), ip.ID(), 9+i)
		}
		tcp := header.TCP(s[l3:])
		body := s[l3+l4:]
		if !tcp.IsChecksumValid(src, dst, checksum.Checksum(body, 0), uint16(len(body))) {
			t.Errorf("segment %d: TCP checksum invalid", i)
		}
		if want := uint32(seq + i*mss); tcp.SequenceNumber() != want {
			t.Errorf("segment %d: seq %d, want %d", i, tcp.SequenceNumber(), want)
		}
		last := i == len(got)-1
		if fin := tcp.Flags()&(header.TCPFlagFin|header.TCPFlagPsh) != 0; fin != last {
			t.Errorf("segment %d: FIN/PSH set %v, want %v (only on the last)", i, fin, last)
		}
		joined = append(joined, body...)
	}
	if !bytes.Equal(joined, payload) {
		t.Errorf("payloads put together = %d bytes, want the original %d", len(joined), len(payload))
	}
}
