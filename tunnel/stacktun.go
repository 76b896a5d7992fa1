package tunnel

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.zx2c4.com/wireguard/tun"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/stack/gro"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

const nicID = 1

// stackQueue is how many packets the netstack may queue for WireGuard.
const stackQueue = 1024

// stackTUN is a tun.Device whose other side is a gVisor stack. It carries
// TCP; a UDP datagram is answered with an ICMP port unreachable (no UDP
// endpoint ever exists), so a sender's socket fails at once with
// "connection refused" instead of waiting.
// The gateway puts it in promiscuous mode (see promiscuous); a client
// gives it its tunnel address (see address).
//
// Unlike wireguard-go's tun/netstack, it hands WireGuard the packets the
// stack sends in batches (see Read): on Linux one batch leaves in one
// system call, where one call per packet is what bounds a user-space
// WireGuard's throughput.
type stackTUN struct {
	ep     *groEndpoint
	stack  *stack.Stack
	events chan tun.Event
	mtu    int
	ctx    context.Context
	cancel context.CancelFunc
	// inspect, if set before the device starts, sees every packet before
	// the netstack does.
	inspect func(pkt []byte)
	// cur is the packet Read is cutting into segments, curGSO its GSO
	// options and curFrom the payload byte its next segment starts at; a
	// packet may span several Reads when bufs run out. Only Read
	// (WireGuard's one reader) touches them.
	cur     *buffer.View
	curGSO  stack.GSO
	curFrom int
}

var _ tun.Device = (*stackTUN)(nil)

func newStackTUN(mtu int) (*stackTUN, error) {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol},
	})
	sack := tcpip.TCPSACKEnabled(true)
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack); err != nil {
		s.Close()
		return nil, fmt.Errorf("enable TCP SACK: %v", err)
	}
	ep := &groEndpoint{Endpoint: channel.New(stackQueue, uint32(mtu), "")}
	// The stack makes TCP segments of up to 32 KB and Read cuts them to
	// the MSS (host GSO): TCP's per-segment work is done once per large
	// one, and each small one is made straight into WireGuard's buffer.
	ep.SupportedGSOKind = stack.HostGSOSupported
	// Packets arrive authenticated (WireGuard's AEAD; on the TUN side, the
	// host's kernel): their checksums need no second look, and the
	// segments GRO merges (see Write) carry none that is valid.
	ep.LinkEPCapabilities = stack.CapabilityRXChecksumOffload
	if err := s.CreateNIC(nicID, ep); err != nil {
		s.Close()
		return nil, fmt.Errorf("create NIC: %v", err)
	}
	s.AddRoute(tcpip.Route{Destination: header.IPv4EmptySubnet, NIC: nicID})
	s.AddRoute(tcpip.Route{Destination: header.IPv6EmptySubnet, NIC: nicID})
	ctx, cancel := context.WithCancel(context.Background())
	t := &stackTUN{ep: ep, stack: s, events: make(chan tun.Event, 1), mtu: mtu, ctx: ctx, cancel: cancel}
	t.events <- tun.EventUp
	return t, nil
}

// promiscuous makes the stack terminate TCP for every destination address
// and answer from it, which is how app virtual IPs exist on the gateway
// without being configured one by one.
func (t *stackTUN) promiscuous() error {
	if err := t.stack.SetPromiscuousMode(nicID, true); err != nil {
		return fmt.Errorf("promiscuous mode: %v", err)
	}
	if err := t.stack.SetSpoofing(nicID, true); err != nil {
		return fmt.Errorf("spoofing: %v", err)
	}
	return nil
}

// address gives the stack its one address (a client's overlay /32).
func (t *stackTUN) address(a netip.Addr) error {
	proto := header.IPv4ProtocolNumber
	if a.Is6() {
		proto = header.IPv6ProtocolNumber
	}
	pa := tcpip.ProtocolAddress{Protocol: proto, AddressWithPrefix: tcpip.AddrFromSlice(a.AsSlice()).WithPrefix()}
	if err := t.stack.AddProtocolAddress(nicID, pa, stack.AddressProperties{}); err != nil {
		return fmt.Errorf("tunnel address %s: %v", a, err)
	}
	return nil
}

func (t *stackTUN) Name() (string, error) { return "gatehouse", nil }
func (t *stackTUN) File() *os.File        { return nil }
func (t *stackTUN) Events() <-chan tun.Event {
	return t.events
}
func (t *stackTUN) MTU() (int, error) { return t.mtu, nil }

// BatchSize is 1: WireGuard's own (its UDP bind's) is larger, and Read
// fills as many of the buffers WireGuard passes as there are packets.
func (t *stackTUN) BatchSize() int { return 1 }

// Read hands WireGuard the packets the netstack wants to send: it waits
// for one, then takes what else is queued, up to len(bufs). A batch lets
// WireGuard seal them in parallel and send them with one system call
// (coalesced with UDP GSO where the kernel has it) instead of one per
// packet. A large TCP segment the netstack made (host GSO) is cut here
// into MSS-sized ones, each in a buffer of its own; what does not fit in
// bufs is left for the next Read.
func (t *stackTUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if t.cur == nil {
		pkt := t.ep.ReadContext(t.ctx)
		if pkt == nil {
			return 0, os.ErrClosed
		}
		t.take(pkt)
	}
	n := 0
	for {
		k, done, err := segment(t.cur.AsSlice(), t.curGSO, t.curFrom, bufs[n:], sizes[n:], offset)
		n += k
		if done {
			t.cur.Release()
			t.cur = nil
		} else {
			t.curFrom += k * int(t.curGSO.MSS)
		}
		if err != nil {
			return n, err
		}
		if n == len(bufs) {
			return n, nil
		}
		pkt := t.ep.Read()
		if pkt == nil {
			return n, nil
		}
		t.take(pkt)
	}
}

// take makes pkt the packet Read cuts next.
func (t *stackTUN) take(pkt *stack.PacketBuffer) {
	t.cur, t.curGSO, t.curFrom = pkt.ToView(), pkt.GSOOptions, 0
	pkt.DecRef()
}

// Write gives the netstack packets WireGuard decrypted. Consecutive
// segments of one TCP flow in a batch are merged first (gVisor's GRO), so
// the stack's TCP handles one large segment instead of many small ones.
func (t *stackTUN) Write(bufs [][]byte, offset int) (int, error) {
	d := t.ep.dispatcher()
	if d == nil {
		return len(bufs), nil // closing: the NIC is gone
	}
	g := groPool.Get().(*gro.GRO)
	g.Dispatcher = d
	defer func() {
		g.Flush()
		g.Dispatcher = nil
		groPool.Put(g)
	}()
	for _, b := range bufs {
		packet := b[offset:]
		if len(packet) == 0 {
			continue
		}
		if t.inspect != nil {
			t.inspect(packet)
		}
		pkb := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(packet)})
		switch packet[0] >> 4 {
		case 4:
			pkb.NetworkProtocolNumber = header.IPv4ProtocolNumber
		case 6:
			pkb.NetworkProtocolNumber = header.IPv6ProtocolNumber
		default:
			pkb.DecRef()
			return 0, syscall.EAFNOSUPPORT
		}
		g.Enqueue(pkb)
		pkb.DecRef()
	}
	return len(bufs), nil
}

// groPool holds GRO tables for Write: WireGuard writes from one goroutine
// per peer, so on a gateway many batches arrive at once, each merged on
// its own.
var groPool = sync.Pool{New: func() any {
	g := new(gro.GRO)
	g.Init(true)
	return g
}}

// groEndpoint is the channel endpoint that also keeps the stack's
// dispatcher, which Write hands packets to through GRO.
type groEndpoint struct {
	*channel.Endpoint
	mu sync.RWMutex // guards d
	d  stack.NetworkDispatcher
}

func (e *groEndpoint) Attach(d stack.NetworkDispatcher) {
	e.mu.Lock()
	e.d = d
	e.mu.Unlock()
	e.Endpoint.Attach(d)
}

func (e *groEndpoint) dispatcher() stack.NetworkDispatcher {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.d
}

// flushQuiet is how long the outbound queue must stay empty before a
// flush ends: a reset just asked for may not be queued yet (the netstack
// makes it on its own goroutine), and WireGuard needs a moment to encrypt
// and send what it took.
const flushQuiet = 15 * time.Millisecond

// flush waits, at most limit, until the netstack's outbound queue has been
// empty for flushQuiet.
func (t *stackTUN) flush(limit time.Duration) {
	deadline := time.Now().Add(limit)
	quietSince := time.Now()
	for time.Now().Before(deadline) {
		if t.ep.NumQueued() > 0 {
			quietSince = time.Now()
		} else if time.Since(quietSince) >= flushQuiet {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func (t *stackTUN) Close() error {
	t.cancel()
	t.stack.RemoveNIC(nicID)
	t.stack.Close()
	t.ep.Close()
	close(t.events)
	return nil
}
