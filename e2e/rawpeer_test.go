package e2e

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.zx2c4.com/wireguard/conn"
	"gvisor.dev/gvisor/pkg/tcpip"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/gateway"
	"github.com/gatehouse-ztna/gatehouse/tunnel"
	"github.com/gatehouse-ztna/gatehouse/tunnel/tuntest"
)

// RawPeer is an uncooperative client: a device enrolled by hand that speaks
// the agent protocol itself, holds real grants, and ignores every revoke —
// it closes nothing, tears nothing down, and never answers a renew with a
// release. A revocation test that passes with a RawPeer proves the gateway
// cut the data, not the agent's courtesy.
//
//	p := env.RawPeer(t, "alice")
//	g := p.Grant("grafana")
//	conn, err := g.Dial(ctx, 80)            // a TCP flow through real WireGuard
//	p.SendPosture(failingReport)            // the controller revokes; p ignores it
//	// … the flow must end with a reset, the peer must be gone
//
// Every method may be called from the test goroutine only; the reader runs
// in the background and never calls t.Fatal.
type RawPeer struct {
	t      testing.TB
	home   *rawHome
	device rawDevice
	conn   *websocket.Conn
	stop   context.CancelFunc
	done   chan struct{} // closed when the reader has ended

	mu      sync.Mutex     // guards msgs, readErr and arrived
	msgs    []api.Envelope // every message from the controller, in order
	readErr error          // why the reader ended, once it has
	arrived chan struct{}  // closed (and replaced) when a message arrives
}

// rawHome is the installation a RawPeer belongs to: how it reaches the
// controller, where its sockets live, and what the gateways hold.
type rawHome struct {
	controllerAt
	// token mints a single-use enrollment token for user.
	token func(user string) (string, error)
	// bind makes the UDP transport of each of the client's tunnels, so
	// that their sockets live where the client does; nil: here.
	bind func() conn.Bind
	// held names the gateways that still hold g's peer.
	held func(g *RawGrant) []string
}

// rawHome is env's controller and gateways, reached from this process.
func (e *Env) rawHome(t testing.TB) *rawHome {
	return &rawHome{controllerAt: e.controllerAt(t),
		token: func(user string) (string, error) {
			tok, err := e.Admin.EnrollmentToken(context.Background(), user, time.Hour)
			return tok.Token, err
		},
		held: func(g *RawGrant) []string {
			gws := map[string]*gateway.Gateway{"embedded": e.Gateway}
			for name, gw := range e.Remotes {
				gws[name] = gw
			}
			var out []string
			for name, gw := range gws {
				for _, peer := range gw.Peers(context.Background()) {
					if peer.PublicKey == g.PublicKey {
						out = append(out, fmt.Sprintf("%s (%+v)", name, peer))
					}
				}
			}
			return out
		}}
}

// RawPeer enrolls a new device for user, opens its websocket with the
// device proof, sends a passing posture report and starts the background
// reader.
func (e *Env) RawPeer(t testing.TB, user string) *RawPeer {
	t.Helper()
	return newRawPeer(t, e.rawHome(t), user)
}

// newRawPeer is a RawPeer of any installation.
func newRawPeer(t testing.TB, h *rawHome, user string) *RawPeer {
	t.Helper()
	return connectRawPeer(t, h, enrollRawDeviceAt(t, h, user), "")
}

// connectRawPeer is newRawPeer for device d, enrolled already, presenting
// a signed-in session's access token unless access is empty. The welcome
// is the first of its messages.
func connectRawPeer(t testing.TB, h *rawHome, d rawDevice, access string) *RawPeer {
	t.Helper()
	c := dialRawAt(t, h.controllerAt)
	c.send(wireFrame(t, api.TypeAuth, api.AuthMsg{DeviceID: d.ID,
		Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(d.Key, c.proof(d))), AccessToken: access}))
	welcome := c.readUntil(api.TypeWelcome)
	ctx, stop := context.WithCancel(context.Background())
	p := &RawPeer{t: t, home: h, device: d, conn: c.conn, stop: stop, done: make(chan struct{}), arrived: make(chan struct{}),
		msgs: []api.Envelope{welcome}}
	go p.read(ctx)
	t.Cleanup(func() {
		stop()
		p.conn.CloseNow()
		<-p.done
	})
	p.SendPosture(passingPostureReport())
	return p
}

// DeviceID is the controller's ID of the peer's device.
func (p *RawPeer) DeviceID() string { return p.device.ID }

// read records every message until the connection ends. It answers
// nothing: that is the point.
func (p *RawPeer) read(ctx context.Context) {
	defer close(p.done)
	for {
		_, data, err := p.conn.Read(ctx)
		var env api.Envelope
		if err == nil {
			err = json.Unmarshal(data, &env)
		}
		p.mu.Lock()
		if err != nil {
			p.readErr = err
		} else {
			p.msgs = append(p.msgs, env)
		}
		close(p.arrived)
		p.arrived = make(chan struct{})
		p.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// send writes one message; it fails the test if the controller is gone.
func (p *RawPeer) send(typ string, data any) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.conn.Write(ctx, websocket.MessageText, wireFrame(p.t, typ, data)); err != nil {
		p.t.Fatalf("RawPeer: send %s: %v", typ, err)
	}
}

// SendPosture reports r as the device's posture.
func (p *RawPeer) SendPosture(r api.PostureReport) {
	p.t.Helper()
	p.send(api.TypePosture, r)
}

// Messages returns the messages of type typ received so far, in order.
func (p *RawPeer) Messages(typ string) []api.Envelope {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []api.Envelope
	for _, m := range p.msgs {
		if m.Type == typ {
			out = append(out, m)
		}
	}
	return out
}

// Revoked reports whether a revoke message has arrived (and was ignored).
func (p *RawPeer) Revoked() bool { return len(p.Messages(api.TypeRevoke)) > 0 }

// await waits up to within for a message for which match returns true.
func (p *RawPeer) await(within time.Duration, what string, match func(api.Envelope) bool) api.Envelope {
	p.t.Helper()
	deadline := time.After(within)
	seen := 0
	for {
		p.mu.Lock()
		msgs, arrived, readErr := p.msgs[seen:], p.arrived, p.readErr
		seen = len(p.msgs)
		p.mu.Unlock()
		for _, m := range msgs {
			if match(m) {
				return m
			}
		}
		if readErr != nil {
			p.t.Fatalf("RawPeer: waiting for %s: connection ended: %v", what, readErr)
		}
		select {
		case <-arrived:
		case <-deadline:
			p.t.Fatalf("RawPeer: no %s within %s", what, within)
		}
	}
}

// Grant asks for a tunnel to app under a fresh WireGuard key and waits for
// the grant; a deny fails the test with its reasons.
func (p *RawPeer) Grant(app string) *RawGrant {
	p.t.Helper()
	key, err := tunnel.NewPrivateKey()
	Must(p.t, err)
	pub := key.Public().String()
	p.send(api.TypeGrantRequest, api.GrantRequest{App: app, PublicKey: pub})
	env := p.await(5*time.Second, "grant for "+app, func(m api.Envelope) bool {
		var answer struct {
			PublicKey string `json:"public_key"`
		}
		return (m.Type == api.TypeGrant || m.Type == api.TypeDeny) && json.Unmarshal(m.Data, &answer) == nil && answer.PublicKey == pub
	})
	if env.Type == api.TypeDeny {
		p.t.Fatalf("RawPeer: grant request for %s denied: %s", app, env.Data)
	}
	g := &RawGrant{t: p.t, home: p.home, Key: key}
	Must(p.t, env.Decode(&g.Grant))
	var perr error
	if g.endpoint, perr = netip.ParseAddrPort(g.GatewayEndpoint); perr != nil {
		p.t.Fatalf("RawPeer: grant for %s: gateway endpoint %q: %v", app, g.GatewayEndpoint, perr)
	}
	if g.gatewayKey, perr = tunnel.ParsePublicKey(g.GatewayPublicKey); perr != nil {
		p.t.Fatalf("RawPeer: grant for %s: %v", app, perr)
	}
	if g.overlay, perr = netip.ParseAddr(g.OverlayAddr); perr != nil {
		p.t.Fatalf("RawPeer: grant for %s: overlay address %q: %v", app, g.OverlayAddr, perr)
	}
	if g.vip, perr = netip.ParseAddr(g.VirtualIP); perr != nil {
		p.t.Fatalf("RawPeer: grant for %s: virtual IP %q: %v", app, g.VirtualIP, perr)
	}
	p.t.Cleanup(g.close)
	return g
}

// RawGrant is one tunnel a RawPeer holds. It is used either through Dial
// (a netstack client, as the agent has) or through Packets (raw packets),
// not both: one key is one WireGuard peer at the gateway.
type RawGrant struct {
	api.Grant
	Key  tunnel.PrivateKey
	t    testing.TB
	home *rawHome

	endpoint   netip.AddrPort
	gatewayKey tunnel.PublicKey
	overlay    netip.Addr
	vip        netip.Addr

	mu      sync.Mutex // guards client and packets
	client  *tunnel.Client
	packets *tuntest.PacketPeer
}

// Overlay is the tunnel's own address, the source of its packets.
func (g *RawGrant) Overlay() netip.Addr { return g.overlay }

// App is the app's address inside the tunnel at port.
func (g *RawGrant) App(port uint16) netip.AddrPort { return netip.AddrPortFrom(g.vip, port) }

// Port is the app's first port.
func (g *RawGrant) Port() uint16 {
	g.t.Helper()
	if len(g.Ports) == 0 {
		g.t.Fatalf("RawGrant: grant for %s has no ports", g.Grant.App)
	}
	return g.Ports[0]
}

// allowed is what the tunnel routes in: the whole app range, as the agent
// does, so the gateway alone decides.
func (g *RawGrant) allowed() []netip.Prefix {
	return []netip.Prefix{netip.PrefixFrom(g.vip, 16).Masked()}
}

// Dial opens a TCP connection to the app's port through a tunnel.Client of
// its own (not the agent's).
func (g *RawGrant) Dial(ctx context.Context, port uint16) (net.Conn, error) {
	g.mu.Lock()
	if g.packets != nil {
		g.mu.Unlock()
		return nil, errors.New("RawGrant: this grant is in packet mode; call Grant again for a dialing tunnel")
	}
	if g.client == nil {
		c, err := g.tunnelTo(g.endpoint, g.gatewayKey)
		if err != nil {
			g.mu.Unlock()
			return nil, err
		}
		g.client = c
	}
	c := g.client
	g.mu.Unlock()
	return c.DialContext(ctx, g.App(port))
}

// tunnelTo makes a tunnel.Client with the grant's key and overlay address
// towards the gateway at endpoint with key, its UDP socket where the
// client lives.
func (g *RawGrant) tunnelTo(endpoint netip.AddrPort, key tunnel.PublicKey) (*tunnel.Client, error) {
	return tunnel.NewClient(tunnel.ClientConfig{PrivateKey: g.Key, Address: g.overlay,
		PeerPublicKey: key, PeerEndpoint: endpoint, AllowedIPs: g.allowed(), Bind: g.home.newBind()})
}

// newBind is the UDP transport for one of the client's tunnels.
func (h *rawHome) newBind() conn.Bind {
	if h.bind == nil {
		return nil
	}
	return h.bind()
}

// Packets switches the grant to packet mode and returns its raw device:
// Send hand-built segments from Overlay to App(port), read the gateway's
// answers from Received.
func (g *RawGrant) Packets() *tuntest.PacketPeer {
	g.t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.client != nil {
		g.t.Fatalf("RawGrant: this grant already dials through a tunnel.Client; call Grant again for packet mode")
	}
	if g.packets == nil {
		pp, err := tuntest.NewPacketPeer(tuntest.PeerConfig{PrivateKey: g.Key, PeerPublicKey: g.gatewayKey,
			PeerEndpoint: g.endpoint, AllowedIPs: g.allowed(), Bind: g.home.newBind()})
		Must(g.t, err)
		g.packets = pp
	}
	return g.packets
}

func (g *RawGrant) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.client != nil {
		g.client.Close()
	}
	if g.packets != nil {
		g.packets.Close()
	}
}

// RawStream is GET /stream (see Env.Upstream) through a RawGrant's own
// tunnel: the app sends a chunk every 10 ms and the client sends a byte
// every 10 ms, as a client that ignores revoke keeps doing, until the
// flow is cut.
type RawStream struct {
	conn  net.Conn
	ended chan struct{} // closed when the read side ended

	mu       sync.Mutex // guards received, lastRead, readErr, writeErr, endedAt
	received int        // bytes from the app
	lastRead time.Time  // when the last of them came
	readErr  error      // why reading ended
	writeErr error      // why writing ended
	endedAt  time.Time  // when reading ended
}

// resetSeen reports whether the flow ended in a reset. gVisor hands the
// reset's error to the first read or write that looks (later ones see the
// flow closed), so the reader and the writer are both asked.
func (s *RawStream) resetSeen() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return isReset(s.readErr) || isReset(s.writeErr)
}

// OpenStream dials the app's port through the grant, starts the stream
// and waits for its first bytes.
func (g *RawGrant) OpenStream(port uint16) *RawStream {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := g.Dial(ctx, port)
	if err != nil {
		g.t.Fatalf("RawGrant.Dial(%d) = %v, want a connection", port, err)
	}
	g.t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, "GET /stream HTTP/1.1\r\nHost: app\r\n\r\n"); err != nil {
		g.t.Fatalf("RawStream: send request: %v", err)
	}
	s := &RawStream{conn: conn, ended: make(chan struct{})}
	go s.read()
	go s.write()
	Eventually(g.t, 5*time.Second, func() error {
		if s.Received() == 0 {
			return errors.New("RawStream: no bytes from the app yet")
		}
		return nil
	})
	return s
}

func (s *RawStream) read() {
	defer close(s.ended)
	buf := make([]byte, 4096)
	for {
		n, err := s.conn.Read(buf)
		s.mu.Lock()
		if n > 0 {
			s.received += n
			s.lastRead = time.Now()
		}
		if err != nil {
			s.readErr, s.endedAt = err, time.Now()
		}
		s.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// write keeps sending until a write fails (the flow is cut, or the test
// closed it): an uncooperative client does not stop on its own.
func (s *RawStream) write() {
	for {
		if _, err := s.conn.Write([]byte{'.'}); err != nil {
			s.mu.Lock()
			s.writeErr = err
			s.mu.Unlock()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Received is how many bytes the app's answer has delivered so far.
func (s *RawStream) Received() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received
}

// AssertGatewayCut checks that the gateway itself cut s within d of now,
// although the client ignored revoke: the flow ended with a reset (not a
// stall, not a clean close), nothing came or went after the reset, the
// peer is gone from env.Gateway.Peers, and WireGuard no longer answers
// the grant's key (a new dial gets no answer at all — a refusal would
// mean the WireGuard peer is still installed). Which gateways hold the
// peer is the RawPeer's home's to say (rawHome.held).
func (g *RawGrant) AssertGatewayCut(s *RawStream, d time.Duration) {
	g.t.Helper()
	start := time.Now()
	select {
	case <-s.ended:
	case <-time.After(d):
		g.t.Fatalf("flow of the uncooperative client still open %s after the revocation (%d bytes received): the gateway did not reset it", d, s.Received())
	}
	// The writer may meet the reset just after the reader ended.
	Eventually(g.t, 100*time.Millisecond, func() error {
		if !s.resetSeen() {
			s.mu.Lock()
			defer s.mu.Unlock()
			return fmt.Errorf("flow of the uncooperative client ended with read %v, write %v; want a reset from the gateway", s.readErr, s.writeErr)
		}
		return nil
	})
	s.mu.Lock()
	endedAt, received := s.endedAt, s.received
	s.mu.Unlock()
	g.t.Logf("gateway reset the uncooperative client's flow %s after the revocation (%d bytes received before)", endedAt.Sub(start).Round(time.Millisecond), received)

	// Nothing after the cut, either way.
	s.conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := s.conn.Read(make([]byte, 1)); n > 0 || err == nil {
		g.t.Errorf("Read after the reset = %d, %v, want no data and an error", n, err)
	}
	if _, err := s.conn.Write([]byte("after the cut")); err == nil {
		g.t.Errorf("Write after the reset = nil error, want the flow dead")
	}

	// A gateway process tells of the removal in its log a moment after
	// the reset; one in this process has removed the peer already.
	Eventually(g.t, 500*time.Millisecond, func() error {
		if held := g.home.held(g); len(held) > 0 {
			return fmt.Errorf("gateways still hold the uncooperative client's peer: %v, want it removed", held)
		}
		return nil
	})
	// WireGuard removes the peer a few ms after the reset (once the reset
	// is flushed): refused is fine until then, silence is required after.
	deadline := time.Now().Add(2 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		conn, err := g.Dial(ctx, g.Port())
		cancel()
		switch {
		case err == nil:
			conn.Close()
			g.t.Fatalf("new dial through the revoked tunnel = a connection, want no answer: data would be delivered after the cut")
		case errors.Is(err, context.DeadlineExceeded):
			return
		case !errors.Is(err, syscall.ECONNREFUSED):
			g.t.Fatalf("new dial through the revoked tunnel = %v, want no answer", err)
		case time.Now().After(deadline):
			g.t.Fatalf("new dial through the revoked tunnel still refused (not silent) 2 s after the cut: the WireGuard peer is still installed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// enrollRawDeviceFor enrolls a new device for user with a fresh key.
func enrollRawDeviceFor(t testing.TB, env *Env, user string) rawDevice {
	t.Helper()
	return enrollRawDeviceAt(t, env.rawHome(t), user)
}

// enrollRawDeviceAt is enrollRawDeviceFor for any installation.
func enrollRawDeviceAt(t testing.TB, h *rawHome, user string) rawDevice {
	t.Helper()
	tok, err := h.token(user)
	Must(t, err)
	pub, priv, err := ed25519.GenerateKey(nil)
	Must(t, err)
	status, body := h.post(t, api.PathEnroll, "", enrollRequestJSON(t, tok, base64.StdEncoding.EncodeToString(pub)))
	if status != http.StatusOK {
		t.Fatalf("POST %s = %d %s, want 200", api.PathEnroll, status, body)
	}
	var res api.EnrollResponse
	Must(t, json.Unmarshal(body, &res))
	return rawDevice{ID: res.DeviceID, Key: priv}
}

// isReset reports whether err is a TCP reset as a tunnel.Client's
// connection reports it (gonet flattens gVisor's errors to text).
func isReset(err error) bool {
	return err != nil && (errors.Is(err, syscall.ECONNRESET) ||
		strings.Contains(err.Error(), (&tcpip.ErrConnectionReset{}).String()))
}
