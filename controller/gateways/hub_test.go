package gateways_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/gateways"
	"github.com/gatehouse-ztna/gatehouse/controller/grants"
	"github.com/gatehouse-ztna/gatehouse/controller/pki"
	"github.com/gatehouse-ztna/gatehouse/gateway"
	"github.com/gatehouse-ztna/gatehouse/gateway/link"
	"github.com/gatehouse-ztna/gatehouse/tunnel"
	"github.com/gatehouse-ztna/gatehouse/wire"
)

const gatewayID, gatewayName = "GW1", "site-a"

var appAddr = netip.MustParseAddrPort("100.80.0.1:3000")

// controller is the controller's side for these tests: a hub behind a
// real TLS listener at a fixed loopback address, which can go away (every
// connection cut, as when the process dies) and come back as a new hub.
type controller struct {
	t     testing.TB
	addr  string
	cert  tls.Certificate
	caPEM []byte
	gwKey ed25519.PublicKey

	mu         sync.Mutex // guards desired, srv, conns, lookups, lastLookup, events
	desired    []api.PeerConfig
	srv        *http.Server
	conns      []net.Conn
	lookups    int
	lastLookup time.Time   // when a gateway last proved itself: its link is back
	events     chan string // "register site-a", "unregister site-a"
	hub        *gateways.Hub

	ackTimeout time.Duration // for hubs started from now on; 0: the default
	// deleteOnSync, when set, deletes the gateway (Lookup fails from then
	// on) while the hub asks for its peer set: an admin's delete racing
	// the gateway's connect. Guarded by mu, as deleted.
	deleteOnSync, deleted bool
}

func newController(t testing.TB, gwKey ed25519.PublicKey) *controller {
	t.Helper()
	dir := t.TempDir()
	cert, err := pki.LoadOrCreate(dir, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, pki.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := &controller{t: t, addr: addr, cert: cert, caPEM: caPEM, gwKey: gwKey, events: make(chan string, 16)}
	t.Cleanup(c.stop)
	return c
}

func (c *controller) url() string { return "https://" + c.addr }

func (c *controller) setDesired(peers ...api.PeerConfig) {
	c.mu.Lock()
	c.desired = peers
	c.mu.Unlock()
}

// start serves a new hub at c.addr.
func (c *controller) start() *gateways.Hub {
	c.t.Helper()
	hub, err := gateways.New(gateways.Config{
		Lookup: func(_ context.Context, id string) (gateways.Identity, error) {
			c.mu.Lock()
			c.lookups++
			c.lastLookup = time.Now()
			deleted := c.deleted
			c.mu.Unlock()
			if id != gatewayID || deleted {
				return gateways.Identity{}, errors.New("not found")
			}
			return gateways.Identity{ID: gatewayID, Name: gatewayName, PublicKey: c.gwKey}, nil
		},
		Desired: func(context.Context, string) ([]api.PeerConfig, error) {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.deleteOnSync {
				c.deleted = true
			}
			return slices.Clone(c.desired), nil
		},
		Register:       func(name string, _ *gateways.Remote) { c.events <- "register " + name },
		Unregister:     func(name string, _ *gateways.Remote) { c.events <- "unregister " + name },
		Logger:         slog.New(slog.DiscardHandler),
		AckTimeout:     c.ackTimeout,
		StatusInterval: 50 * time.Millisecond,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	var l net.Listener
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if l, err = net.Listen("tcp", c.addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		c.t.Fatalf("listen again at %s: %v", c.addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle(api.GatewayWebsocketPath, serveHub(hub))
	srv := &http.Server{Handler: mux, ErrorLog: log.New(io.Discard, "", 0), TLSConfig: &tls.Config{Certificates: []tls.Certificate{c.cert}},
		ConnState: func(nc net.Conn, s http.ConnState) {
			if s == http.StateNew {
				c.mu.Lock()
				c.conns = append(c.conns, nc)
				c.mu.Unlock()
			}
		}}
	c.mu.Lock()
	c.srv, c.hub = srv, hub
	c.mu.Unlock()
	go srv.ServeTLS(l, "", "")
	return hub
}

// serveHub is the thin handler the controller's transport
// (controller/httpapi) mounts at GatewayWebsocketPath: upgrade, then
// hand the connection to the hub.
func serveHub(hub *gateways.Hub) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		hub.Serve(r.Context(), wire.NewConn(ws, "gateway"), r.TLS, r.RemoteAddr)
	})
}

// stop closes the listener and every connection, hijacked ones included.
func (c *controller) stop() {
	c.mu.Lock()
	srv, conns := c.srv, c.conns
	c.srv, c.conns = nil, nil
	c.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
	for _, nc := range conns {
		nc.Close()
	}
}

func (c *controller) await(want string) {
	c.t.Helper()
	c.awaitWithin(want, 20*time.Second)
}

// awaitWithin is await with its own patience. These waits prove that an
// event comes, not how fast (the time targets are the benchmarks'): under
// the race detector, next to another package's headless Chromium, a
// registration took over 5 s.
func (c *controller) awaitWithin(want string, d time.Duration) {
	c.t.Helper()
	select {
	case got := <-c.events:
		if got != want {
			c.t.Fatalf("hub event = %q, want %q", got, want)
		}
	case <-time.After(d):
		c.t.Fatalf("no hub event in %s, want %q", d, want)
	}
}

// standalone is a real gateway.Gateway behind a real link.
type standalone struct {
	gw   *gateway.Gateway
	link *link.Link
}

func newStandalone(t testing.TB, c *controller, key ed25519.PrivateKey, caPEM []byte) standalone {
	t.Helper()
	wg, err := tunnel.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gateway.Config{PrivateKey: wg, PublicHost: "127.0.0.1", DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	l, err := link.New(link.Config{Controller: c.url(), CAPEM: caPEM, GatewayID: gatewayID, Key: key, Version: "test-1", Gateway: gw})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		gw.Close()
	})
	return standalone{gw: gw, link: l}
}

func gatewayKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func echoUpstream(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex // guards conns
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				io.Copy(c, c)
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

func peer(t testing.TB, overlay, upstream string, lease time.Duration) (tunnel.PrivateKey, api.PeerConfig) {
	t.Helper()
	k, err := tunnel.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k, api.PeerConfig{PublicKey: k.Public().String(), OverlayAddr: overlay, App: "grafana",
		Destinations: []api.Destination{{VirtualAddr: appAddr.String(), Upstream: upstream}}, Lease: api.Duration(lease)}
}

func agentTunnel(t *testing.T, gw *gateway.Gateway, key tunnel.PrivateKey, overlay string) *tunnel.Client {
	t.Helper()
	gwKey, err := tunnel.ParsePublicKey(gw.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	cl, err := tunnel.NewClient(tunnel.ClientConfig{PrivateKey: key, Address: netip.MustParseAddr(overlay), PeerPublicKey: gwKey,
		PeerEndpoint: netip.MustParseAddrPort(gw.Endpoint()), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("100.80.0.0/16")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

func echo(t *testing.T, conn net.Conn, msg string) {
	t.Helper()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	defer conn.SetDeadline(time.Time{})
	if _, err := conn.Write([]byte(msg)); err != nil {
		t.Fatalf("Write(%q) = %v, want nil", msg, err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo(%q) = %q, %v, want %q", msg, buf, err, msg)
	}
}

func peerKeys(gw *gateway.Gateway) []string {
	var out []string
	for _, p := range gw.Peers(context.Background()) {
		out = append(out, p.PublicKey)
	}
	sort.Strings(out)
	return out
}

// TestFlowThroughLinkEndsAtLeaseWithoutController: a peer added through the
// hub is on the gateway when AddPeer returns (the ack), a flow through a
// real WireGuard tunnel reaches the upstream, and when the controller goes
// away the flow lives on until the lease and then ends (fail closed).
func TestFlowThroughLinkEndsAtLeaseWithoutController(t *testing.T) {
	pub, priv := gatewayKey(t)
	c := newController(t, pub)
	hub := c.start()
	sa := newStandalone(t, c, priv, c.caPEM)
	c.await("register " + gatewayName)

	const lease = 3 * time.Second
	key, pc := peer(t, "100.64.0.2", echoUpstream(t), lease)
	r := hub.Remote(gatewayName)
	if r.Endpoint() != sa.gw.Endpoint() || r.PublicKey() != sa.gw.PublicKey() {
		t.Fatalf("Remote endpoint, key = %s %s, want %s %s", r.Endpoint(), r.PublicKey(), sa.gw.Endpoint(), sa.gw.PublicKey())
	}
	added := time.Now()
	if err := r.AddPeer(context.Background(), pc); err != nil {
		t.Fatalf("AddPeer = %v, want nil", err)
	}
	if got := peerKeys(sa.gw); !slices.Equal(got, []string{pc.PublicKey}) {
		t.Fatalf("gateway peers right after AddPeer = %v, want [%s] (the ack must follow the install)", got, pc.PublicKey)
	}
	cl := agentTunnel(t, sa.gw, key, pc.OverlayAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := cl.DialContext(ctx, appAddr)
	if err != nil {
		t.Fatalf("DialContext(%s) = %v, want a connection", appAddr, err)
	}
	defer conn.Close()
	echo(t, conn, "before")
	// The gateway's status reaches the hub: peer count and open flows.
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ps := r.Peers(context.Background())
		d := hub.Describe(api.Gateway{ID: gatewayID, Name: gatewayName})
		if len(ps) == 1 && ps[0].OpenFlows == 1 && d.Peers == 1 && d.OpenFlows == 1 && d.State == api.GatewayOnline && d.Version == "test-1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Peers() = %+v, Describe() = %+v, want 1 peer with 1 open flow, online, version test-1", ps, d)
		}
	}

	c.stop()
	c.await("unregister " + gatewayName)
	if err := r.AddPeer(context.Background(), pc); !errors.Is(err, gateways.ErrOffline) {
		t.Errorf("AddPeer with the gateway gone = %v, want %v", err, gateways.ErrOffline)
	}
	echo(t, conn, "controller gone, lease still running")

	conn.SetReadDeadline(added.Add(lease + 2*time.Second))
	_, err = conn.Read(make([]byte, 1))
	ended := time.Since(added)
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("Read after the lease = %v, want the flow reset at the lease end (%s)", err, lease)
	}
	if ended < lease-200*time.Millisecond {
		t.Errorf("flow ended %s after AddPeer, want not before the lease (%s)", ended, lease)
	}
	t.Logf("flow ended %s after AddPeer (lease %s) with the controller gone: %v", ended.Round(time.Millisecond), lease, err)
	if got := peerKeys(sa.gw); len(got) != 0 {
		t.Errorf("gateway peers after the lease = %v, want none", got)
	}
}

// TestReconnectResyncsPeerSet: a restarted controller's hub sends its full
// set; the gateway installs what is missing and drops what the controller
// no longer knows, within 2 s of the controller coming back.
func TestReconnectResyncsPeerSet(t *testing.T) {
	pub, priv := gatewayKey(t)
	c := newController(t, pub)
	hub := c.start()
	sa := newStandalone(t, c, priv, c.caPEM)
	c.await("register " + gatewayName)

	up := echoUpstream(t)
	_, kept := peer(t, "100.64.0.2", up, time.Minute)
	_, forgotten := peer(t, "100.64.0.3", up, time.Minute)
	newKey, added := peer(t, "100.64.0.4", up, time.Minute)
	for _, pc := range []api.PeerConfig{kept, forgotten} {
		if err := hub.Remote(gatewayName).AddPeer(context.Background(), pc); err != nil {
			t.Fatalf("AddPeer(%s) = %v, want nil", pc.OverlayAddr, err)
		}
	}
	c.stop()
	c.await("unregister " + gatewayName)
	time.Sleep(1500 * time.Millisecond) // the link's backoff reaches its ceiling
	if got, want := peerKeys(sa.gw), sorted(kept.PublicKey, forgotten.PublicKey); !slices.Equal(got, want) {
		t.Fatalf("gateway peers with the controller gone = %v, want %v (untouched until their leases end)", got, want)
	}

	c.setDesired(kept, added)
	back := time.Now()
	hub = c.start()
	want := sorted(kept.PublicKey, added.PublicKey)
	for !slices.Equal(peerKeys(sa.gw), want) {
		if time.Since(back) > 2*time.Second {
			t.Fatalf("gateway peers %s after the controller came back = %v, want %v", time.Since(back), peerKeys(sa.gw), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	took := time.Since(back)
	t.Logf("resync took %s from the controller listening again", took.Round(time.Millisecond))
	c.await("register " + gatewayName)
	var listed []string
	for _, p := range hub.Remote(gatewayName).Peers(context.Background()) {
		listed = append(listed, p.PublicKey)
	}
	if sort.Strings(listed); !slices.Equal(listed, want) {
		t.Errorf("Remote.Peers() = %v, want %v", listed, want)
	}
	cl := agentTunnel(t, sa.gw, newKey, added.OverlayAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := cl.DialContext(ctx, appAddr)
	if err != nil {
		t.Fatalf("DialContext through the resynced peer = %v, want a connection", err)
	}
	defer conn.Close()
	echo(t, conn, "resynced")
}

func sorted(s ...string) []string { sort.Strings(s); return s }

// TestHubRefusesWrongProofs: only the enrolled gateway's signature over a
// gateway proof opens a link; a device's proof (its own context) signed
// with the very same key, an agent's auth message, another key and an
// unknown ID are refused with status 1008 and never registered.
func TestHubRefusesWrongProofs(t *testing.T) {
	pub, priv := gatewayKey(t)
	_, other := gatewayKey(t)
	c := newController(t, pub)
	c.start()
	tests := []struct {
		name    string
		typ, id string
		sign    func(exporter, nonce []byte) []byte
		want    string // "" = welcome
	}{
		{"gateway proof", api.TypeGatewayAuth, gatewayID,
			func(e, n []byte) []byte { return ed25519.Sign(priv, api.GatewayAuthProof(e, gatewayID, n)) }, ""},
		{"device proof with the gateway key", api.TypeGatewayAuth, gatewayID,
			func(e, n []byte) []byte { return ed25519.Sign(priv, api.AuthProof(e, gatewayID, n)) }, "signature does not match"},
		{"agent auth message", api.TypeAuth, gatewayID,
			func(e, n []byte) []byte { return ed25519.Sign(priv, api.GatewayAuthProof(e, gatewayID, n)) }, "expected gateway_auth first"},
		{"another key", api.TypeGatewayAuth, gatewayID,
			func(e, n []byte) []byte { return ed25519.Sign(other, api.GatewayAuthProof(e, gatewayID, n)) }, "signature does not match"},
		{"unknown gateway", api.TypeGatewayAuth, "NOPE",
			func(e, n []byte) []byte { return ed25519.Sign(priv, api.GatewayAuthProof(e, "NOPE", n)) }, "enroll it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rawAuth(t, c, tt.typ, tt.id, tt.sign)
			if tt.want == "" && got != api.TypeGatewayWelcome {
				t.Fatalf("auth(%q) = %q, want %s", tt.name, got, api.TypeGatewayWelcome)
			}
			if tt.want != "" && !strings.Contains(got, tt.want) {
				t.Fatalf("auth(%q) = %q, want a refusal containing %q", tt.name, got, tt.want)
			}
			if tt.want == "" {
				c.await("register " + gatewayName)
				c.await("unregister " + gatewayName)
			}
		})
	}
	select {
	case ev := <-c.events:
		t.Errorf("hub event %q after refused links, want none", ev)
	default:
	}
}

// rawAuth opens the gateway websocket by hand and answers hello with a
// message of type typ signed by sign. It returns the type of the answer,
// or for an error the error's message and the close status.
func rawAuth(t *testing.T, c *controller, typ, id string, sign func(exporter, nonce []byte) []byte) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, got := rawDial(t, ctx, c, typ, id, sign)
	defer ws.CloseNow()
	return got
}

// rawDial is rawAuth's work; after a welcome it has acked the (empty)
// peer set, so the link is up and ws ready for requests.
func rawDial(t *testing.T, ctx context.Context, c *controller, typ, id string, sign func(exporter, nonce []byte) []byte) (*websocket.Conn, string) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: x509Pool(t, c.caPEM)}}}
	ws, resp, err := websocket.Dial(ctx, c.url()+api.GatewayWebsocketPath, &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	exporter, err := api.AuthExporter(resp.TLS)
	if err != nil {
		t.Fatal(err)
	}
	var hello api.HelloMsg
	readEnv(t, ctx, ws, &hello)
	nonce, _ := base64.StdEncoding.DecodeString(hello.Nonce)
	writeEnv(t, ctx, ws, typ, api.GatewayAuthMsg{GatewayID: id, Signature: base64.StdEncoding.EncodeToString(sign(exporter, nonce)),
		Endpoint: "127.0.0.1:1", WireGuardKey: "x"})
	var e api.ErrorMsg
	typ = readEnv(t, ctx, ws, &e)
	if typ != api.TypeError {
		if typ == api.TypeGatewayWelcome {
			var sync api.PeerSync // the (empty) peer set, acked as applied
			readEnv(t, ctx, ws, &sync)
			writeEnv(t, ctx, ws, api.TypePeerAck, api.PeerAck{ID: sync.ID})
		}
		return ws, typ
	}
	_, _, err = ws.Read(ctx)
	return ws, fmt.Sprintf("%s (close status %d)", e.Message, websocket.CloseStatus(err))
}

func writeEnv(t *testing.T, ctx context.Context, ws *websocket.Conn, typ string, v any) {
	t.Helper()
	env, _ := api.NewEnvelope(typ, v)
	b, _ := json.Marshal(env)
	if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
}

func readEnv(t *testing.T, ctx context.Context, ws *websocket.Conn, v any) string {
	t.Helper()
	_, data, err := ws.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var env api.Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatal(err)
	}
	if v != nil && env.Type != api.TypeGatewayWelcome {
		env.Decode(v)
	}
	return env.Type
}

// TestOfflineGatewayFailsFast: a grant for an app of a gateway without a
// link fails at once with a reason naming it, not a hang.
func TestOfflineGatewayFailsFast(t *testing.T) {
	hub, err := gateways.New(gateways.Config{
		Lookup: func(context.Context, string) (gateways.Identity, error) {
			return gateways.Identity{}, errors.New("none")
		},
		Desired: func(context.Context, string) ([]api.PeerConfig, error) { return nil, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	_, pc := peer(t, "100.64.0.2", "127.0.0.1:1", time.Minute)
	r := hub.Remote("site-b")
	tests := []struct {
		name string
		call func() error
	}{
		{"AddPeer", func() error { return r.AddPeer(context.Background(), pc) }},
		{"RenewPeer", func() error { return r.RenewPeer(context.Background(), pc.PublicKey, time.Minute) }},
		{"RemovePeer", func() error { return r.RemovePeer(context.Background(), pc.PublicKey) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := tt.call()
			if !errors.Is(err, gateways.ErrOffline) || !strings.Contains(err.Error(), "gateway site-b is offline") {
				t.Errorf("%s = %v, want %q", tt.name, err, "gateway site-b is offline")
			}
			if d := time.Since(start); d > 100*time.Millisecond {
				t.Errorf("%s took %s, want at once", tt.name, d)
			}
		})
	}
	if got := hub.Describe(api.Gateway{ID: gatewayID, Name: "site-b"}).State; got != api.GatewayOffline {
		t.Errorf("Describe(site-b).State = %q, want %q", got, api.GatewayOffline)
	}
}

// TestLinkTrustsOnlyEnrolledCA: a server at the controller URL whose
// certificate is not from the enrolled CA is refused in the TLS handshake;
// the gateway never sends its proof.
func TestLinkTrustsOnlyEnrolledCA(t *testing.T) {
	pub, priv := gatewayKey(t)
	c := newController(t, pub)
	c.start()
	otherCA := newController(t, pub).caPEM
	sa := newStandalone(t, c, priv, otherCA)
	deadline := time.Now().Add(3 * time.Second)
	for {
		_, err := sa.link.Connected()
		if err != nil {
			if !strings.Contains(err.Error(), "not the controller this gateway enrolled with") {
				t.Fatalf("link error = %v, want a refusal of the certificate", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("link reported no error in 3 s, want a refused certificate")
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.mu.Lock()
	lookups := c.lookups
	c.mu.Unlock()
	if on, _ := sa.link.Connected(); on || lookups != 0 {
		t.Errorf("Connected, lookups = %v, %d, want false, 0", on, lookups)
	}
}

func x509Pool(t *testing.T, caPEM []byte) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA in PEM")
	}
	return pool
}

// TestRemoteWaitsForAck: AddPeer and RenewPeer return only with the
// gateway's ack — its error when it refused, grants.ErrPeerLost for a key
// it does not hold (so the grant manager revokes the grant), and a
// timeout error when no ack comes.
func TestRemoteWaitsForAck(t *testing.T) {
	pub, priv := gatewayKey(t)
	c := newController(t, pub)
	c.ackTimeout = 500 * time.Millisecond
	hub := c.start()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, got := rawDial(t, ctx, c, api.TypeGatewayAuth, gatewayID,
		func(e, n []byte) []byte { return ed25519.Sign(priv, api.GatewayAuthProof(e, gatewayID, n)) })
	defer ws.CloseNow()
	if got != api.TypeGatewayWelcome {
		t.Fatalf("auth = %q, want %s", got, api.TypeGatewayWelcome)
	}
	c.await("register " + gatewayName)
	r := hub.Remote(gatewayName)
	_, pc := peer(t, "100.64.0.2", "127.0.0.1:1", time.Minute)

	const delay = 200 * time.Millisecond
	tests := []struct {
		name    string
		call    func() error
		ack     func(id uint64) *api.PeerAck // nil: never ack
		wantErr string                       // "" = nil
		wantIs  error                        // nil: none
	}{
		{"add acked late", func() error { return r.AddPeer(ctx, pc) },
			func(id uint64) *api.PeerAck { return &api.PeerAck{ID: id} }, "", nil},
		{"add refused", func() error { return r.AddPeer(ctx, pc) },
			func(id uint64) *api.PeerAck { return &api.PeerAck{ID: id, Error: "overlay address taken"} }, "overlay address taken", nil},
		{"renew of unknown peer", func() error { return r.RenewPeer(ctx, pc.PublicKey, time.Minute) },
			func(id uint64) *api.PeerAck {
				return &api.PeerAck{ID: id, Error: "no such peer", Code: api.CodeUnknownPeer}
			}, grants.ErrPeerLost.Error(), grants.ErrPeerLost},
		{"remove of unknown peer", func() error { return r.RemovePeer(ctx, pc.PublicKey) },
			func(id uint64) *api.PeerAck {
				return &api.PeerAck{ID: id, Error: "no such peer", Code: api.CodeUnknownPeer}
			}, grants.ErrPeerLost.Error(), grants.ErrPeerLost},
		{"add never acked", func() error { return r.AddPeer(ctx, pc) },
			func(uint64) *api.PeerAck { return nil }, "did not acknowledge", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acked := make(chan time.Time, 1)
			go func() {
				_, data, err := ws.Read(ctx)
				if err != nil {
					return
				}
				var env api.Envelope
				var req struct {
					ID uint64 `json:"id"`
				}
				json.Unmarshal(data, &env)
				json.Unmarshal(env.Data, &req)
				time.Sleep(delay)
				if a := tt.ack(req.ID); a != nil {
					acked <- time.Now()
					env, _ := api.NewEnvelope(api.TypePeerAck, *a)
					b, _ := json.Marshal(env)
					ws.Write(ctx, websocket.MessageText, b)
				}
			}()
			start := time.Now()
			err := tt.call()
			returned := time.Now()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("%s = %v, want nil", tt.name, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("%s = %v, want an error containing %q", tt.name, err, tt.wantErr)
			case tt.wantIs != nil && !errors.Is(err, tt.wantIs):
				t.Fatalf("%s = %v, want an error that is %v", tt.name, err, tt.wantIs)
			}
			if returned.Sub(start) < delay {
				t.Errorf("%s returned after %s, want not before the gateway answered (%s)", tt.name, returned.Sub(start), delay)
			}
			select {
			case at := <-acked:
				if returned.Before(at) {
					t.Errorf("%s returned %s before the ack was sent", tt.name, at.Sub(returned))
				}
			default:
			}
		})
	}
}

// TestLargePeerSetTravelsInPages: a peer set far over the 64 KiB message
// limit reaches the gateway whole, in pages.
func TestLargePeerSetTravelsInPages(t *testing.T) {
	pub, priv := gatewayKey(t)
	c := newController(t, pub)
	const n = 800 // about 160 KiB of JSON
	var set []api.PeerConfig
	var want []string
	for i := range n {
		_, pc := peer(t, fmt.Sprintf("100.64.%d.%d", 1+i/250, 1+i%250), "127.0.0.1:1", time.Minute)
		set = append(set, pc)
		want = append(want, pc.PublicKey)
	}
	sort.Strings(want)
	if b, _ := json.Marshal(set); len(b) < 2*api.MaxMessageBytes {
		t.Fatalf("peer set is %d bytes, want over %d to need pages", len(b), 2*api.MaxMessageBytes)
	}
	c.setDesired(set...)
	hub := c.start()
	start := time.Now()
	sa := newStandalone(t, c, priv, c.caPEM)
	c.awaitWithin("register "+gatewayName, 30*time.Second) // 800 peers
	t.Logf("%d peers synced in %s", n, time.Since(start).Round(time.Millisecond))
	if got := peerKeys(sa.gw); !slices.Equal(got, want) {
		t.Fatalf("gateway holds %d peers after the sync, want all %d", len(got), n)
	}
	if got := len(hub.Remote(gatewayName).Peers(context.Background())); got != n {
		t.Errorf("Remote.Peers() lists %d, want %d", got, n)
	}
}

// TestGatewayCannotRequestGrants: the gateway websocket takes acks and
// statuses only; a grant request (or any agent message) on it is refused
// and asks nothing of the controller.
func TestGatewayCannotRequestGrants(t *testing.T) {
	pub, priv := gatewayKey(t)
	c := newController(t, pub)
	c.start()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, got := rawDial(t, ctx, c, api.TypeGatewayAuth, gatewayID,
		func(e, n []byte) []byte { return ed25519.Sign(priv, api.GatewayAuthProof(e, gatewayID, n)) })
	defer ws.CloseNow()
	if got != api.TypeGatewayWelcome {
		t.Fatalf("auth = %q, want %s", got, api.TypeGatewayWelcome)
	}
	tests := []struct {
		name string
		typ  string
		in   any
	}{
		{"grant request", api.TypeGrantRequest, api.GrantRequest{App: "grafana", PublicKey: "x"}},
		{"posture", api.TypePosture, api.PostureReport{}},
		{"peer add back at the controller", api.TypePeerAdd, api.PeerAdd{ID: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			writeEnv(t, ctx, ws, tt.typ, tt.in)
			var e api.ErrorMsg
			if got := readEnv(t, ctx, ws, &e); got != api.TypeError || !strings.Contains(e.Message, "unknown message type") {
				t.Errorf("%s on the gateway websocket answered %s %+v, want an error naming an unknown message type", tt.typ, got, e)
			}
		})
	}
}

// TestGatewayDeletedWhileConnectingStaysOffline: a gateway deleted while
// its peer set is being applied (its link not attached yet, so the delete
// finds nothing to cut) must not come online when the sync ends.
func TestGatewayDeletedWhileConnectingStaysOffline(t *testing.T) {
	pub, priv := gatewayKey(t)
	c := newController(t, pub)
	c.deleteOnSync = true
	c.start()
	newStandalone(t, c, priv, c.caPEM)
	select {
	case got := <-c.events:
		t.Fatalf("hub event %q for a gateway deleted while it connected, want none", got)
	case <-time.After(2 * time.Second):
	}
}
