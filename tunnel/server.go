package tunnel

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.zx2c4.com/wireguard/device"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// ServerConfig describes the gateway end: one WireGuard device, many peers.
type ServerConfig struct {
	PrivateKey PrivateKey
	ListenPort int // UDP; 0 picks one
	MTU        int
	Logger     *slog.Logger
	// Admit decides, before the TCP handshake completes, whether a new flow
	// from src to dst may pass. A refused flow is answered with a reset.
	Admit func(src, dst netip.AddrPort) bool
	// Serve owns an admitted flow until it returns and must close it.
	Serve func(f *Flow)

	// MaxHalfOpenPerPeer caps the handshakes one peer (one source address)
	// may have in progress; its further SYNs are dropped before they take a
	// forwarder slot. Default DefaultMaxHalfOpenPerPeer.
	MaxHalfOpenPerPeer int
	// MaxHalfOpen caps the handshakes in progress from all peers together
	// (the forwarder's in-flight limit). Default DefaultMaxHalfOpen.
	MaxHalfOpen int
	// HandshakeTimeout resets a handshake the client has not completed by
	// then, freeing its slot. Default DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
}

// Flow is one admitted TCP connection arriving through the tunnel.
type Flow struct {
	Src, Dst netip.AddrPort
	net.Conn
	ep tcpip.Endpoint
}

// Reset aborts the flow with a TCP reset, so the application on the other
// end of the tunnel sees the connection end at once instead of hanging.
func (f *Flow) Reset() { f.ep.Abort() }

// CloseWrite half-closes the flow: the client reads an orderly end of data
// and may go on sending. (The embedded net.Conn does not carry it, and
// Splice passes an upstream's clean end on only through it.)
func (f *Flow) CloseWrite() error { f.ep.Shutdown(tcpip.ShutdownWrite); return nil }

// Server is a wireguard-go device over a gVisor netstack that accepts flows
// to any destination address and hands each to its owner.
type Server struct {
	dev  *device.Device
	tun  *stackTUN
	fwd  *tcp.Forwarder
	half *halfOpen // handshakes in progress, per peer and in total
	port int
	pub  PublicKey
	cfg  ServerConfig
	mu   sync.Mutex // serialises peer changes
}

// NewServer starts the device and its netstack.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	if cfg.Admit == nil || cfg.Serve == nil {
		return nil, fmt.Errorf("tunnel server needs both Admit and Serve")
	}
	if cfg.MaxHalfOpenPerPeer == 0 {
		cfg.MaxHalfOpenPerPeer = DefaultMaxHalfOpenPerPeer
	}
	if cfg.MaxHalfOpen == 0 {
		cfg.MaxHalfOpen = DefaultMaxHalfOpen
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.MaxHalfOpenPerPeer < 0 || cfg.MaxHalfOpen < cfg.MaxHalfOpenPerPeer || cfg.HandshakeTimeout < 0 {
		return nil, fmt.Errorf("tunnel server limits: MaxHalfOpenPerPeer %d, MaxHalfOpen %d, HandshakeTimeout %s: want positive values with MaxHalfOpen at least MaxHalfOpenPerPeer",
			cfg.MaxHalfOpenPerPeer, cfg.MaxHalfOpen, cfg.HandshakeTimeout)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	st, err := newStackTUN(cfg.MTU)
	if err != nil {
		return nil, err
	}
	if err := st.promiscuous(); err != nil {
		st.Close()
		return nil, err
	}
	s := &Server{tun: st, pub: cfg.PrivateKey.Public(), cfg: cfg,
		half: newHalfOpen(cfg.MaxHalfOpenPerPeer, cfg.MaxHalfOpen, log)}
	st.inspect = s.recycleTimeWait
	s.fwd = tcp.NewForwarder(st.stack, 0, cfg.MaxHalfOpen, s.handle)
	st.stack.SetTransportProtocolHandler(tcp.ProtocolNumber, s.handlePacket)

	s.dev, err = newDevice(st, nil, cfg.PrivateKey, cfg.ListenPort, cfg.Logger)
	if err != nil {
		return nil, err
	}
	if s.port, err = listenPort(s.dev); err != nil {
		s.dev.Close()
		return nil, err
	}
	return s, nil
}

// handle runs in its own goroutine for each new tuple handlePacket let
// through; the tuple counts as half-open until its handshake is done.
func (s *Server) handle(r *tcp.ForwarderRequest) {
	id := r.ID()
	f := s.handshake(r)
	s.half.end(id)
	if f != nil {
		s.cfg.Serve(f)
	}
}

// handshake asks Admit, then completes the handshake within
// HandshakeTimeout; it returns nil (and has answered with a reset) when
// the flow is refused or the handshake fails.
func (s *Server) handshake(r *tcp.ForwarderRequest) *Flow {
	id := r.ID()
	src := netip.AddrPortFrom(addrFrom(id.RemoteAddress), id.RemotePort)
	dst := netip.AddrPortFrom(addrFrom(id.LocalAddress), id.LocalPort)
	if !s.cfg.Admit(src, dst) {
		r.Complete(true)
		return nil
	}
	deadline := s.tun.stack.Clock().AfterFunc(s.cfg.HandshakeTimeout, func() { s.abortHandshake(id) })
	var wq waiter.Queue
	ep, tcpErr := r.CreateEndpoint(&wq)
	deadline.Stop()
	if tcpErr != nil {
		r.Complete(true)
		return nil
	}
	r.Complete(false)
	ep.SocketOptions().SetKeepAlive(true)
	return &Flow{Src: src, Dst: dst, Conn: gonet.NewTCPConn(&wq, ep), ep: ep}
}

// SYNStats counts the server's handshakes so far.
func (s *Server) SYNStats() SYNStats { return s.half.snapshot() }

// Port is the UDP port WireGuard listens on.
func (s *Server) Port() int { return s.port }

// PublicKey is the server's WireGuard public key.
func (s *Server) PublicKey() PublicKey { return s.pub }

// SetPeer adds or replaces a peer whose packets must come from allowed.
func (s *Server) SetPeer(pub PublicKey, allowed netip.Prefix) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg := fmt.Sprintf("public_key=%s\nreplace_allowed_ips=true\nallowed_ip=%s\n", pub.hex(), allowed)
	if err := s.dev.IpcSet(cfg); err != nil {
		return fmt.Errorf("add peer %s: %w", pub, err)
	}
	return nil
}

// Flush waits, at most limit, until WireGuard has taken and sent every
// packet the netstack has queued — the resets of flows just aborted — so
// that a RemovePeer after it does not swallow them.
func (s *Server) Flush(limit time.Duration) { s.tun.flush(limit) }

// RemovePeer drops a peer at once; call Flush first to let its queued
// packets out.
func (s *Server) RemovePeer(pub PublicKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.dev.IpcSet(fmt.Sprintf("public_key=%s\nremove=true\n", pub.hex())); err != nil {
		return fmt.Errorf("remove peer %s: %w", pub, err)
	}
	return nil
}

// Close stops the device; packets already queued (the resets of flows its
// owner just aborted) are flushed first.
func (s *Server) Close() error {
	s.Flush(100 * time.Millisecond)
	s.dev.Close()
	return nil
}

// netProtoOf is the network protocol of id's addresses.
func netProtoOf(id stack.TransportEndpointID) tcpip.NetworkProtocolNumber {
	if id.LocalAddress.Len() == header.IPv6AddressSize {
		return header.IPv6ProtocolNumber
	}
	return header.IPv4ProtocolNumber
}

func addrFrom(a tcpip.Address) netip.Addr {
	ip, _ := netip.AddrFromSlice(a.AsSlice())
	return ip
}
