package tunnel

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"syscall"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun/netstack"
	"gvisor.dev/gvisor/pkg/tcpip"
)

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

// Client is a WireGuard device with its own netstack that can only dial out.
type Client struct {
	dev *device.Device
	net *netstack.Net
}

// NewClient brings the device up. The handshake happens on first use.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	tdev, tnet, err := netstack.CreateNetTUN([]netip.Addr{cfg.Address}, nil, cfg.MTU)
	if err != nil {
		return nil, fmt.Errorf("create tunnel netstack: %w", err)
	}
	dev, err := newDevice(tdev, cfg.Bind, cfg.PrivateKey, 0, cfg.Logger)
	if err != nil {
		return nil, err
	}
	var peer strings.Builder
	fmt.Fprintf(&peer, "public_key=%s\nendpoint=%s\n", cfg.PeerPublicKey.hex(), cfg.PeerEndpoint)
	for _, p := range cfg.AllowedIPs {
		fmt.Fprintf(&peer, "allowed_ip=%s\n", p)
	}
	if err := dev.IpcSet(peer.String()); err != nil {
		dev.Close()
		return nil, fmt.Errorf("configure tunnel peer %s: %w", cfg.PeerEndpoint, err)
	}
	return &Client{dev: dev, net: tnet}, nil
}

// DialContext opens a TCP connection through the tunnel.
func (c *Client) DialContext(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	conn, err := c.net.DialContextTCPAddrPort(ctx, addr)
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
