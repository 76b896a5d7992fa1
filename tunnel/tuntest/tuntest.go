// Package tuntest is a WireGuard peer that speaks raw IP packets, for tests
// that must behave as no real client would: a SYN flood, segments that
// ignore the protocol, a client that never answers. It runs the real
// wireguard-go device over a channel-backed tun.Device, so every packet
// crosses real WireGuard on loopback; the test writes hand-built IPv4/TCP
// segments in and reads the gateway's answers out.
//
// Imported only by tests (tunnel's, gateway's and e2e).
package tuntest

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/gatehouse-ztna/gatehouse/tunnel"
)

// PeerConfig describes a packet peer: its WireGuard key and the gateway.
type PeerConfig struct {
	PrivateKey    tunnel.PrivateKey
	PeerPublicKey tunnel.PublicKey
	PeerEndpoint  netip.AddrPort
	// AllowedIPs are the source addresses accepted from the gateway.
	AllowedIPs []netip.Prefix
	// Received is how many packets from the gateway are kept unread before
	// newer ones are dropped (and counted); default 4096.
	Received int
	// Bind is the UDP transport; nil takes wireguard-go's default.
	Bind conn.Bind
}

// PacketPeer is one WireGuard peer whose inside is raw packets.
type PacketPeer struct {
	dev *device.Device
	tun *channelTUN
}

// NewPacketPeer brings the device up; the WireGuard handshake happens with
// the first packet sent.
func NewPacketPeer(cfg PeerConfig) (*PacketPeer, error) {
	if cfg.Received == 0 {
		cfg.Received = 4096
	}
	if cfg.Bind == nil {
		cfg.Bind = conn.NewDefaultBind()
	}
	t := newChannelTUN(cfg.Received)
	dev := device.NewDevice(t, cfg.Bind, device.NewLogger(device.LogLevelSilent, ""))
	ipc := fmt.Sprintf("private_key=%s\npublic_key=%s\nendpoint=%s\n",
		hex.EncodeToString(cfg.PrivateKey[:]), hex.EncodeToString(cfg.PeerPublicKey[:]), cfg.PeerEndpoint)
	for _, p := range cfg.AllowedIPs {
		ipc += fmt.Sprintf("allowed_ip=%s\n", p)
	}
	if err := dev.IpcSet(ipc); err != nil {
		dev.Close()
		return nil, fmt.Errorf("configure packet peer for %s: %w", cfg.PeerEndpoint, err)
	}
	if err := dev.Up(); err != nil {
		dev.Close()
		return nil, fmt.Errorf("bring packet peer up: %w", err)
	}
	return &PacketPeer{dev: dev, tun: t}, nil
}

// Send queues one IP packet for the tunnel; it blocks while WireGuard is
// behind, so a flood runs at the speed WireGuard can encrypt.
func (p *PacketPeer) Send(pkt []byte) error {
	select {
	case p.tun.out <- pkt:
		return nil
	case <-p.tun.closed:
		return os.ErrClosed
	}
}

// Received yields the packets the gateway sent through the tunnel, in
// order; packets that arrive while it is full are dropped and counted.
func (p *PacketPeer) Received() <-chan []byte { return p.tun.in }

// Dropped is how many received packets were dropped unread.
func (p *PacketPeer) Dropped() uint64 { return p.tun.dropped.Load() }

// Close tears the device down.
func (p *PacketPeer) Close() { p.dev.Close() }

// channelTUN is a tun.Device whose other side is two channels. Writes from
// WireGuard never block: a test that stops reading must not stall the
// device (and with it the handshake and keepalives).
type channelTUN struct {
	in      chan []byte // decrypted packets from the gateway
	out     chan []byte // packets the test sends
	dropped atomic.Uint64
	events  chan tun.Event
	closed  chan struct{}
	once    sync.Once
}

var _ tun.Device = (*channelTUN)(nil)

func newChannelTUN(received int) *channelTUN {
	t := &channelTUN{in: make(chan []byte, received), out: make(chan []byte, 256),
		events: make(chan tun.Event, 1), closed: make(chan struct{})}
	t.events <- tun.EventUp
	return t
}

func (t *channelTUN) File() *os.File { return nil }

func (t *channelTUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	select {
	case pkt := <-t.out:
		sizes[0] = copy(bufs[0][offset:], pkt)
		return 1, nil
	case <-t.closed:
		return 0, os.ErrClosed
	}
}

func (t *channelTUN) Write(bufs [][]byte, offset int) (int, error) {
	for _, b := range bufs {
		pkt := append([]byte(nil), b[offset:]...)
		select {
		case t.in <- pkt:
		default:
			t.dropped.Add(1)
		}
	}
	return len(bufs), nil
}

func (t *channelTUN) MTU() (int, error)        { return tunnel.DefaultMTU, nil }
func (t *channelTUN) Name() (string, error)    { return "tuntest", nil }
func (t *channelTUN) Events() <-chan tun.Event { return t.events }
func (t *channelTUN) BatchSize() int           { return 1 }
func (t *channelTUN) Close() error {
	t.once.Do(func() {
		close(t.closed)
		close(t.events)
	})
	return nil
}

// Segment is a TCP segment, the fields a test writes or checks.
type Segment struct {
	Src, Dst netip.AddrPort
	Flags    header.TCPFlags
	Seq, Ack uint32
	Payload  []byte
}

// TCPPacket builds an IPv4 or IPv6 packet carrying s, checksums filled in.
func TCPPacket(s Segment) []byte {
	tcpLen := header.TCPMinimumSize + len(s.Payload)
	var pkt []byte
	var tcpHdr header.TCP
	src, dst := tcpip.AddrFromSlice(s.Src.Addr().AsSlice()), tcpip.AddrFromSlice(s.Dst.Addr().AsSlice())
	if s.Src.Addr().Is4() {
		pkt = make([]byte, header.IPv4MinimumSize+tcpLen)
		ip := header.IPv4(pkt)
		ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(pkt)), TTL: 64,
			Protocol: uint8(header.TCPProtocolNumber), SrcAddr: src, DstAddr: dst})
		ip.SetChecksum(^ip.CalculateChecksum())
		tcpHdr = header.TCP(pkt[header.IPv4MinimumSize:])
	} else {
		pkt = make([]byte, header.IPv6MinimumSize+tcpLen)
		header.IPv6(pkt).Encode(&header.IPv6Fields{PayloadLength: uint16(tcpLen),
			TransportProtocol: header.TCPProtocolNumber, HopLimit: 64, SrcAddr: src, DstAddr: dst})
		tcpHdr = header.TCP(pkt[header.IPv6MinimumSize:])
	}
	tcpHdr.Encode(&header.TCPFields{SrcPort: s.Src.Port(), DstPort: s.Dst.Port(), SeqNum: s.Seq, AckNum: s.Ack,
		DataOffset: header.TCPMinimumSize, Flags: s.Flags, WindowSize: 65535})
	copy(tcpHdr[header.TCPMinimumSize:], s.Payload)
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dst, uint16(tcpLen))
	xsum = checksum.Checksum(s.Payload, xsum)
	tcpHdr.SetChecksum(^tcpHdr.CalculateChecksum(xsum))
	return pkt
}

// SYN is the first segment of a connection from src to dst.
func SYN(src, dst netip.AddrPort, seq uint32) []byte {
	return TCPPacket(Segment{Src: src, Dst: dst, Flags: header.TCPFlagSyn, Seq: seq})
}

// ParseTCP reads the TCP segment in an IPv4 or IPv6 packet; ok is false
// for anything else.
func ParseTCP(pkt []byte) (s Segment, ok bool) {
	var body []byte
	var src, dst netip.Addr
	switch {
	case len(pkt) >= header.IPv4MinimumSize && pkt[0]>>4 == 4:
		ip := header.IPv4(pkt)
		if !ip.IsValid(len(pkt)) || ip.TransportProtocol() != header.TCPProtocolNumber {
			return s, false
		}
		body = ip.Payload()
		src, _ = netip.AddrFromSlice(ip.SourceAddressSlice())
		dst, _ = netip.AddrFromSlice(ip.DestinationAddressSlice())
	case len(pkt) >= header.IPv6MinimumSize && pkt[0]>>4 == 6:
		ip := header.IPv6(pkt)
		if !ip.IsValid(len(pkt)) || ip.TransportProtocol() != header.TCPProtocolNumber {
			return s, false
		}
		body = ip.Payload()
		src, _ = netip.AddrFromSlice(ip.SourceAddressSlice())
		dst, _ = netip.AddrFromSlice(ip.DestinationAddressSlice())
	default:
		return s, false
	}
	if len(body) < header.TCPMinimumSize {
		return s, false
	}
	t := header.TCP(body)
	off := int(t.DataOffset())
	if off < header.TCPMinimumSize || off > len(body) {
		return s, false
	}
	return Segment{Src: netip.AddrPortFrom(src, t.SourcePort()), Dst: netip.AddrPortFrom(dst, t.DestinationPort()),
		Flags: t.Flags(), Seq: t.SequenceNumber(), Ack: t.AckNumber(), Payload: body[off:]}, true
}
