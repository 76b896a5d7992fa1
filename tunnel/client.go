package tunnel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// noAnswerWait is how long a dial waits for the gateway's first answer
// before the client suspects that the gateway lost the WireGuard session:
// a restarted gateway silently drops packets sealed with keys it no longer
// holds, and WireGuard itself starts a new handshake only ~15 s later. The
// gateway answers a SYN as soon as it has checked the grant (see Server),
// so one second is many round trips.
const noAnswerWait = time.Second

// ClientConfig describes one end of a single-app tunnel.
type ClientConfig struct {
	PrivateKey    PrivateKey
	Address       netip.Addr // this tunnel's overlay address
	PeerPublicKey PublicKey
	PeerEndpoint  netip.AddrPort
	// AllowedIPs are the destinations routed into the tunnel. The gateway,
	// not this list, decides what may pass.
	AllowedIPs []netip.Prefix
	MTU        int
	Logger     *slog.Logger
	// Bind is the UDP transport; nil takes wireguard-go's default, whose
	// sockets live in this process's network namespace. (Tests that play
	// a client in another namespace pass one that opens them there.)
	Bind conn.Bind
}

// Client is a WireGuard device with its own netstack (a stackTUN holding
// the tunnel's address) that can only dial out.
type Client struct {
	dev  *device.Device
	peer *device.Peer // the gateway
	tun  *stackTUN
	in   *countingTUN // counts what the gateway sends
	log  *slog.Logger

	sessionRestarts atomic.Int64 // fresh handshakes forced by dials that got no answer

	mu          sync.Mutex // guards restartedAt
	restartedAt time.Time  // the last fresh handshake forced
}

// NewClient brings the device up. The handshake happens on first use.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	st, err := newStackTUN(cfg.MTU)
	if err != nil {
		return nil, fmt.Errorf("create tunnel netstack: %w", err)
	}
	if err := st.address(cfg.Address); err != nil {
		st.Close()
		return nil, fmt.Errorf("create tunnel netstack: %w", err)
	}
	in := &countingTUN{Device: st}
	dev, err := newDevice(in, cfg.Bind, cfg.PrivateKey, 0, cfg.Logger)
	if err != nil {
		return nil, err
	}
	var ipc strings.Builder
	fmt.Fprintf(&ipc, "public_key=%s\nendpoint=%s\n", cfg.PeerPublicKey.hex(), cfg.PeerEndpoint)
	for _, p := range cfg.AllowedIPs {
		fmt.Fprintf(&ipc, "allowed_ip=%s\n", p)
	}
	if err := dev.IpcSet(ipc.String()); err != nil {
		dev.Close()
		return nil, fmt.Errorf("configure tunnel peer %s: %w", cfg.PeerEndpoint, err)
	}
	gw := dev.LookupPeer(device.NoisePublicKey(cfg.PeerPublicKey))
	if gw == nil {
		dev.Close()
		return nil, fmt.Errorf("configure tunnel peer %s: the device does not list it", cfg.PeerEndpoint)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{dev: dev, peer: gw, tun: st, in: in, log: log}, nil
}

// DialContext opens a TCP connection through the tunnel. A dial that has
// no answer within noAnswerWait, while nothing else came back from the
// gateway either, drops the WireGuard session (the gateway may have
// restarted and lost it), so the next packet starts a fresh handshake,
// and is tried once more within ctx. A refusal is an answer: it is not
// tried again.
func (c *Client) DialContext(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	heard := c.in.received.Load()
	first, cancel := context.WithTimeout(ctx, noAnswerWait)
	conn, err := c.dial(first, addr)
	cancel()
	if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
		return conn, err
	}
	if c.in.received.Load() == heard {
		c.restartSession(addr)
	}
	return c.dial(ctx, addr)
}

// restartSession expires the session's keys, so the next packet sent
// starts a fresh handshake at once; dials that waited together force one
// handshake between them.
func (c *Client) restartSession(addr netip.AddrPort) {
	c.mu.Lock()
	if time.Since(c.restartedAt) < noAnswerWait {
		c.mu.Unlock()
		return
	}
	c.restartedAt = time.Now()
	c.mu.Unlock()
	c.peer.ExpireCurrentKeypairs()
	c.sessionRestarts.Add(1)
	c.log.Info("no answer through the tunnel; starting a fresh WireGuard handshake (the gateway may have restarted)",
		"dst", addr.String(), "waited", noAnswerWait)
}

func (c *Client) dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	proto := header.IPv4ProtocolNumber
	if addr.Addr().Is6() {
		proto = header.IPv6ProtocolNumber
	}
	full := tcpip.FullAddress{NIC: nicID, Addr: tcpip.AddrFromSlice(addr.Addr().AsSlice()), Port: addr.Port()}
	conn, err := gonet.DialContextTCP(ctx, c.tun.stack, full, proto)
	if err != nil {
		// gonet flattens gVisor's errors to text; give callers the errno
		// they would get from a kernel socket.
		if strings.Contains(err.Error(), (&tcpip.ErrConnectionRefused{}).String()) {
			return nil, fmt.Errorf("dial %s through tunnel: %w", addr, syscall.ECONNREFUSED)
		}
		return nil, fmt.Errorf("dial %s through tunnel: %w", addr, err)
	}
	return conn, nil
}

// Close tears the device down; connections through it stop at once.
func (c *Client) Close() error {
	c.dev.Close()
	return nil
}

// countingTUN counts the packets WireGuard decrypted from the gateway and
// hands the netstack.
type countingTUN struct {
	tun.Device
	received atomic.Uint64
}

func (t *countingTUN) Write(bufs [][]byte, offset int) (int, error) {
	t.received.Add(uint64(len(bufs)))
	return t.Device.Write(bufs, offset)
}
