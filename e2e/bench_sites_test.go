package e2e

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun/netstack"
)

// Ports of the benchmark's sink and source, on the app host behind site0
// and, for the direct path, on site0 itself.
const (
	sitesSinkPort   = "9000"
	sitesSourcePort = "9001"
)

// BenchmarkStandaloneThroughputRatio measures, over NewSites' namespaces
// and veths, back to back in every iteration with the order rotated (see
// benchRatio):
//
//   - direct: TCP from the client namespace over the wan veths to a sink
//     (or source) in site0's namespace;
//   - wireguard-bare: a bare wireguard-go netstack pair, one end in the
//     client namespace and the other in site0's, its UDP across the same
//     veths; the site end forwards to the app host behind site0, as the
//     gateway does;
//   - gatehouse: the real install of newStandalone (controller, a
//     standalone gatehouse-gateway process in site0, the agent process in
//     the client namespace): the agent's local port → WireGuard over the
//     wan → the gateway → the app host behind site0.
//
// upload: the client sends; download: the app sends. Target, as on
// loopback: gatehouse/bare ≥ 0.80.
func BenchmarkStandaloneThroughputRatio(b *testing.B) {
	x := newStandalone(b)
	s := x.s
	site, app := s.Site[0], s.App[0]
	siteAddr, appAddr := s.Addr[site], s.Addr[app]
	for _, port := range []string{sitesSinkPort, sitesSourcePort} {
		handle := countBytes
		if port == sitesSourcePort {
			handle = sendAsked
		}
		serveIn(b, site, net.JoinHostPort(siteAddr, port), handle)
		serveIn(b, app, net.JoinHostPort(appAddr, port), handle)
	}
	x.admin("apps", "create", "sink", "--upstream", net.JoinHostPort(appAddr, sitesSinkPort), "--gateway", "site0")
	x.admin("apps", "create", "source", "--upstream", net.JoinHostPort(appAddr, sitesSourcePort), "--gateway", "site0")
	x.admin("policies", "create", "eng-bench", "--groups", "eng", "--apps", "sink,source", "--profiles", "secure")
	bare := newBarePairAcross(b, s.Client, site, netip.MustParseAddr(siteAddr))

	paths := func(port string) []benchPath {
		local := x.local(map[string]string{sitesSinkPort: "sink", sitesSourcePort: "source"}[port])
		ps := []benchPath{
			{"direct", dialIn(s.Client, net.JoinHostPort(siteAddr, port))},
			{"wireguard-bare", bare.listenFor(b, net.JoinHostPort(appAddr, port))},
			{"gatehouse", dialIn(s.Client, local)},
		}
		for _, p := range ps { // handshakes, the grant
			Eventually(b, 10*time.Second, func() error {
				c, err := p.dial()
				if err != nil {
					return fmt.Errorf("warm up %s: %w", p.name, err)
				}
				return c.Close()
			})
		}
		return ps
	}
	up, down := paths(sitesSinkPort), paths(sitesSourcePort)
	b.Run("upload", func(b *testing.B) { benchRatio(b, up, timedPush) })
	b.Run("download", func(b *testing.B) { benchRatio(b, down, timedPull) })
}

// serveIn listens at addr inside ns and runs handle for each connection
// (which it then closes) until the benchmark ends. Accepted sockets stay
// in ns whatever thread serves them.
func serveIn(tb testing.TB, ns, addr string, handle func(net.Conn)) {
	tb.Helper()
	var l net.Listener
	Must(tb, inNetns(ns, func() (err error) {
		l, err = net.Listen("tcp", addr)
		return err
	}))
	tb.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
}

// dialIn returns a dial of addr from inside ns.
func dialIn(ns, addr string) func() (net.Conn, error) {
	return func() (c net.Conn, err error) {
		err = inNetns(ns, func() (err error) {
			c, err = net.DialTimeout("tcp", addr, 5*time.Second)
			return err
		})
		return c, err
	}
}

// barePairAcross is barePair split over two namespaces: each device's UDP
// socket is opened inside its own namespace, so the WireGuard packets
// cross the veths between them.
type barePairAcross struct {
	client, server *netstack.Net
	serverNS       string
	nextPort       uint16 // the last port listenFor took; only the benchmark's goroutine calls it
}

// newBarePairAcross puts the client end in clientNS and the server end in
// serverNS, reached at serverIP.
func newBarePairAcross(tb testing.TB, clientNS, serverNS string, serverIP netip.Addr) *barePairAcross {
	tb.Helper()
	const mtu = 1420
	cKey, sKey := wgKey(tb), wgKey(tb)
	// up makes a device whose bind has its sockets in ns. The netstack
	// TUN's up event may bring the device up first from any thread, in the
	// host namespace: BindUpdate inside ns reopens them there either way.
	up := func(ns string, addr netip.Addr, config string) (*device.Device, *netstack.Net) {
		tun, tnet, err := netstack.CreateNetTUN([]netip.Addr{addr}, nil, mtu)
		Must(tb, err)
		dev := device.NewDevice(tun, conn.NewDefaultBind(), device.NewLogger(device.LogLevelSilent, ""))
		tb.Cleanup(dev.Close)
		Must(tb, inNetns(ns, func() error {
			if err := dev.IpcSet(config); err != nil {
				return err
			}
			if err := dev.Up(); err != nil {
				return err
			}
			return dev.BindUpdate()
		}))
		return dev, tnet
	}
	sDev, sNet := up(serverNS, bareServerIP, fmt.Sprintf("private_key=%s\nlisten_port=0\npublic_key=%s\nallowed_ip=%s/32\n",
		hex.EncodeToString(sKey[:]), hex.EncodeToString(wgPublic(cKey)), bareClientIP))
	sPort := wgListenPort(tb, sDev)
	_, cNet := up(clientNS, bareClientIP, fmt.Sprintf("private_key=%s\nlisten_port=0\npublic_key=%s\nendpoint=%s\nallowed_ip=%s/32\n",
		hex.EncodeToString(cKey[:]), hex.EncodeToString(wgPublic(sKey)), netip.AddrPortFrom(serverIP, uint16(sPort)), bareServerIP))
	return &barePairAcross{client: cNet, server: sNet, serverNS: serverNS, nextPort: 8000}
}

// listenFor makes the server end accept on a port of its own and
// forward each connection to upstream, dialed from inside the server's
// namespace as the gateway does, and returns a dial of that port.
func (p *barePairAcross) listenFor(tb testing.TB, upstream string) func() (net.Conn, error) {
	tb.Helper()
	p.nextPort++
	server := netip.AddrPortFrom(bareServerIP, p.nextPort)
	l, err := p.server.ListenTCPAddrPort(server)
	Must(tb, err)
	tb.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				up, err := dialIn(p.serverNS, upstream)()
				if err != nil {
					c.Close()
					return
				}
				splice(c, up)
			}()
		}
	}()
	return func() (net.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return p.client.DialContextTCPAddrPort(ctx, server)
	}
}
