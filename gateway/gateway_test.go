package gateway_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/gateway"
	"github.com/gatehouse-ztna/gatehouse/tunnel"
)

// The virtual address of the test app inside every tunnel.
var appAddr = netip.MustParseAddrPort("100.80.0.1:80")

func newGateway(t *testing.T) *gateway.Gateway {
	t.Helper()
	key, err := tunnel.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gateway.Config{PrivateKey: key, PublicHost: "127.0.0.1", DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	t.Cleanup(func() { gw.Close() })
	return gw
}

// echoUpstream is a real TCP echo server on loopback; it returns host:port.
func echoUpstream(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
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
				defer c.Close()
				io.Copy(c, c)
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

func newKey(t *testing.T) tunnel.PrivateKey {
	t.Helper()
	k, err := tunnel.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newAgent is the agent's side of one tunnel: key, with overlay address addr.
func newAgent(t *testing.T, gw *gateway.Gateway, key tunnel.PrivateKey, addr string) *tunnel.Client {
	t.Helper()
	gwKey, err := tunnel.ParsePublicKey(gw.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	cl, err := tunnel.NewClient(tunnel.ClientConfig{
		PrivateKey:    key,
		Address:       netip.MustParseAddr(addr),
		PeerPublicKey: gwKey,
		PeerEndpoint:  netip.MustParseAddrPort(gw.Endpoint()),
		AllowedIPs:    []netip.Prefix{netip.MustParsePrefix("100.80.0.0/16")},
	})
	if err != nil {
		t.Fatalf("tunnel.NewClient: %v", err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

func peerConfig(key tunnel.PrivateKey, overlay, upstream string, expires time.Time) api.PeerConfig {
	return api.PeerConfig{PublicKey: key.Public().String(), OverlayAddr: overlay, App: "echo",
		Destinations: []api.Destination{{VirtualAddr: appAddr.String(), Upstream: upstream}}, Lease: api.Duration(time.Until(expires))}
}

func addPeer(t *testing.T, gw *gateway.Gateway, pc api.PeerConfig) {
	t.Helper()
	if err := gw.AddPeer(context.Background(), pc); err != nil {
		t.Fatalf("AddPeer(%s) = %v, want nil", pc.OverlayAddr, err)
	}
}

func dial(t *testing.T, cl *tunnel.Client, to netip.AddrPort) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := cl.DialContext(ctx, to)
	if err != nil {
		t.Fatalf("DialContext(%s) = %v, want a connection", to, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// dialDropped asserts that a dial to the app goes unanswered: WireGuard on
// the gateway drops the packets, so not even a reset comes back (a refusal
// would mean they reached the netstack).
func dialDropped(t *testing.T, cl *tunnel.Client) {
	t.Helper()
	if err := tryDial(cl, time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("DialContext(%s) = %v, want no answer (%v)", appAddr, err, context.DeadlineExceeded)
	}
}

// awaitDropped asserts that every dial to the app fails, first refused by
// the gateway and soon dropped by WireGuard, once the peer has left it
// (the gateway removes WireGuard peers in the background).
func awaitDropped(t *testing.T, cl *tunnel.Client) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		err := tryDial(cl, 300*time.Millisecond)
		switch {
		case err == nil:
			t.Fatalf("DialContext(%s) = a connection, want an error", appAddr)
		case errors.Is(err, context.DeadlineExceeded):
			return
		case !errors.Is(err, syscall.ECONNREFUSED):
			t.Fatalf("DialContext(%s) = %v, want refused or no answer", appAddr, err)
		case time.Now().After(deadline):
			t.Fatalf("DialContext(%s) = %v until %s, want the peer gone from WireGuard (no answer)", appAddr, err, deadline.Format(time.StampMilli))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tryDial(cl *tunnel.Client, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := cl.DialContext(ctx, appAddr)
	if err == nil {
		conn.Close()
	}
	return err
}

// echo sends msg through conn and wants it back from the upstream.
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

// awaitReset wants conn to end with an error (not a timeout) before deadline.
func awaitReset(t *testing.T, conn net.Conn, deadline time.Time) {
	t.Helper()
	conn.SetReadDeadline(deadline)
	_, err := conn.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("Read = %v, want the flow reset before %s", err, deadline.Format(time.StampMilli))
	}
}

func wantNoPeers(t *testing.T, gw *gateway.Gateway) {
	t.Helper()
	if got := gw.Peers(context.Background()); len(got) != 0 {
		t.Errorf("Peers() = %+v, want none", got)
	}
}

func TestGrantedFlowReachesUpstream(t *testing.T) {
	gw := newGateway(t)
	key := newKey(t)
	expires := time.Now().Add(time.Minute)
	addPeer(t, gw, peerConfig(key, "100.64.0.2", echoUpstream(t), expires))
	cl := newAgent(t, gw, key, "100.64.0.2")

	conn := dial(t, cl, appAddr)
	echo(t, conn, "ping")
	echo(t, conn, "second message on the same flow")

	peers := gw.Peers(context.Background())
	if len(peers) != 1 {
		t.Fatalf("Peers() = %+v, want one peer", peers)
	}
	want := api.GatewayPeer{PublicKey: key.Public().String(), OverlayAddr: "100.64.0.2", App: "echo", OpenFlows: 1}
	got := peers[0]
	if !about(got.ExpiresAt, expires) {
		t.Errorf("Peers()[0].ExpiresAt = %v, want about %v", got.ExpiresAt, expires)
	}
	got.ExpiresAt = time.Time{}
	if got != want {
		t.Errorf("Peers()[0] = %+v, want %+v", got, want)
	}
}

func TestUngrantedDestinationRefused(t *testing.T) {
	gw := newGateway(t)
	key := newKey(t)
	addPeer(t, gw, peerConfig(key, "100.64.0.2", echoUpstream(t), time.Now().Add(time.Minute)))
	cl := newAgent(t, gw, key, "100.64.0.2")
	echo(t, dial(t, cl, appAddr), "ping") // the tunnel itself works

	for _, dst := range []string{"100.80.0.1:81", "100.80.0.2:80", "100.80.9.9:22"} {
		t.Run(dst, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn, err := cl.DialContext(ctx, netip.MustParseAddrPort(dst))
			if err == nil {
				conn.Close()
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("DialContext(%s) = %v, want %v", dst, err, syscall.ECONNREFUSED)
			}
		})
	}
}

func TestRemovePeerResetsOpenFlow(t *testing.T) {
	gw := newGateway(t)
	key := newKey(t)
	addPeer(t, gw, peerConfig(key, "100.64.0.2", echoUpstream(t), time.Now().Add(time.Minute)))
	cl := newAgent(t, gw, key, "100.64.0.2")
	conn := dial(t, cl, appAddr)
	echo(t, conn, "ping")

	start := time.Now()
	if err := gw.RemovePeer(context.Background(), key.Public().String()); err != nil {
		t.Fatalf("RemovePeer = %v, want nil", err)
	}
	awaitReset(t, conn, start.Add(time.Second))
	wantNoPeers(t, gw)
	awaitDropped(t, cl)

	if err := gw.RemovePeer(context.Background(), key.Public().String()); !errors.Is(err, gateway.ErrUnknownPeer) {
		t.Errorf("RemovePeer again = %v, want %v", err, gateway.ErrUnknownPeer)
	}
}

// A key granted again right after its removal keeps working: the delayed
// WireGuard removal of the old grant must not take the new one with it.
func TestRemoveThenReAddSameKey(t *testing.T) {
	gw := newGateway(t)
	key := newKey(t)
	up := echoUpstream(t)
	addPeer(t, gw, peerConfig(key, "100.64.0.2", up, time.Now().Add(time.Minute)))
	cl := newAgent(t, gw, key, "100.64.0.2")
	echo(t, dial(t, cl, appAddr), "ping")

	if err := gw.RemovePeer(context.Background(), key.Public().String()); err != nil {
		t.Fatalf("RemovePeer = %v, want nil", err)
	}
	addPeer(t, gw, peerConfig(key, "100.64.0.2", up, time.Now().Add(time.Minute)))
	time.Sleep(300 * time.Millisecond) // past the old grant's flush and removal
	echo(t, dial(t, cl, appAddr), "pong")
}

// A gateway with no controller at all still ends a grant at its lease.
func TestLeaseExpiryWithoutController(t *testing.T) {
	gw := newGateway(t)
	key := newKey(t)
	expires := time.Now().Add(2 * time.Second) // room for a handshake on a loaded machine (700 ms was once too little)
	addPeer(t, gw, peerConfig(key, "100.64.0.2", echoUpstream(t), expires))
	cl := newAgent(t, gw, key, "100.64.0.2")
	conn := dial(t, cl, appAddr)
	echo(t, conn, "ping")
	if time.Now().After(expires) {
		t.Fatalf("setup took past the lease expiry; the test proves nothing")
	}

	awaitReset(t, conn, expires.Add(500*time.Millisecond))
	if now := time.Now(); now.Before(expires) {
		t.Errorf("flow reset at %s, before the lease expiry %s", now.Format(time.StampMilli), expires.Format(time.StampMilli))
	}
	wantNoPeers(t, gw)
	awaitDropped(t, cl)
	if err := gw.RenewPeer(context.Background(), key.Public().String(), time.Minute); !errors.Is(err, gateway.ErrUnknownPeer) {
		t.Errorf("RenewPeer after expiry = %v, want %v", err, gateway.ErrUnknownPeer)
	}
}

func TestRenewPeerExtendsLease(t *testing.T) {
	gw := newGateway(t)
	key := newKey(t)
	first := time.Now().Add(700 * time.Millisecond)
	addPeer(t, gw, peerConfig(key, "100.64.0.2", echoUpstream(t), first))
	cl := newAgent(t, gw, key, "100.64.0.2")
	conn := dial(t, cl, appAddr)
	echo(t, conn, "ping")

	renewed := time.Now().Add(time.Minute)
	if err := gw.RenewPeer(context.Background(), key.Public().String(), time.Minute); err != nil {
		t.Fatalf("RenewPeer = %v, want nil", err)
	}
	time.Sleep(time.Until(first.Add(500 * time.Millisecond)))

	echo(t, conn, "still here")
	echo(t, dial(t, cl, appAddr), "new flow after the first expiry")
	peers := gw.Peers(context.Background())
	if len(peers) != 1 || !about(peers[0].ExpiresAt, renewed) {
		t.Errorf("Peers() = %+v, want one peer expiring at %v", peers, renewed)
	}
}

func TestAddPeerRefusesBadConfig(t *testing.T) {
	upstream := "127.0.0.1:9"
	key := newKey(t)
	short := base64.StdEncoding.EncodeToString(make([]byte, 16))
	tests := []struct {
		name    string
		in      func(pc *api.PeerConfig)
		wantErr string
	}{
		{name: "negative lease", in: func(pc *api.PeerConfig) { pc.Lease = api.Duration(-time.Second) }, wantErr: "not positive"},
		{name: "zero lease", in: func(pc *api.PeerConfig) { pc.Lease = 0 }, wantErr: "not positive"},
		{name: "public key not base64", in: func(pc *api.PeerConfig) { pc.PublicKey = "not a key!" }, wantErr: "public key"},
		{name: "public key too short", in: func(pc *api.PeerConfig) { pc.PublicKey = short }, wantErr: "public key"},
		{name: "empty public key", in: func(pc *api.PeerConfig) { pc.PublicKey = "" }, wantErr: "public key"},
		{name: "overlay not an IP", in: func(pc *api.PeerConfig) { pc.OverlayAddr = "100.64.0.300" }, wantErr: "overlay"},
		{name: "overlay with prefix length", in: func(pc *api.PeerConfig) { pc.OverlayAddr = "100.64.0.2/32" }, wantErr: "overlay"},
		{name: "empty overlay", in: func(pc *api.PeerConfig) { pc.OverlayAddr = "" }, wantErr: "overlay"},
		{name: "destination without port", in: func(pc *api.PeerConfig) { pc.Destinations[0].VirtualAddr = "100.80.0.1" }, wantErr: "destination"},
	}
	gw := newGateway(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pc := peerConfig(key, "100.64.0.2", upstream, time.Now().Add(time.Minute))
			tt.in(&pc)
			err := gw.AddPeer(context.Background(), pc)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("AddPeer(%+v) = %v, want an error mentioning %q", pc, err, tt.wantErr)
			}
			wantNoPeers(t, gw)
		})
	}
}

func TestOverlayAddressHeldByAnotherPeer(t *testing.T) {
	gw := newGateway(t)
	upstream := echoUpstream(t)
	owner, thief := newKey(t), newKey(t)
	addPeer(t, gw, peerConfig(owner, "100.64.0.2", upstream, time.Now().Add(time.Minute)))

	err := gw.AddPeer(context.Background(), peerConfig(thief, "100.64.0.2", upstream, time.Now().Add(time.Minute)))
	if err == nil || !strings.Contains(err.Error(), "100.64.0.2") {
		t.Fatalf("AddPeer(second key, 100.64.0.2) = %v, want an error naming the address", err)
	}
	peers := gw.Peers(context.Background())
	if len(peers) != 1 || peers[0].PublicKey != owner.Public().String() {
		t.Fatalf("Peers() = %+v, want only the owner %s", peers, owner.Public())
	}

	// The refused key gets nothing, and the owner keeps its address.
	dialDropped(t, newAgent(t, gw, thief, "100.64.0.2"))
	echo(t, dial(t, newAgent(t, gw, owner, "100.64.0.2"), appAddr), "still mine")
}

// WireGuard's cryptokey routing admits a peer's packets only from its own
// overlay /32; the gateway must not trust a source address otherwise.
func TestPeerCannotUseAnotherSourceAddress(t *testing.T) {
	gw := newGateway(t)
	upstream := echoUpstream(t)
	alice, bob := newKey(t), newKey(t)
	addPeer(t, gw, peerConfig(alice, "100.64.0.2", upstream, time.Now().Add(time.Minute)))
	addPeer(t, gw, peerConfig(bob, "100.64.0.3", upstream, time.Now().Add(time.Minute)))

	tests := []struct {
		name string
		in   string // the address alice's tunnel claims
	}{
		{name: "unassigned address", in: "100.64.0.9"},
		{name: "another peer's address", in: "100.64.0.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := newAgent(t, gw, alice, tt.in)
			dialDropped(t, cl)
			cl.Close()
		})
	}
	// The same key from its own address works, so the failures above were
	// about the source address alone.
	echo(t, dial(t, newAgent(t, gw, alice, "100.64.0.2"), appAddr), "ping")
}

func TestUnknownPeer(t *testing.T) {
	gw := newGateway(t)
	unknown := newKey(t).Public().String()
	if err := gw.RenewPeer(context.Background(), unknown, time.Minute); !errors.Is(err, gateway.ErrUnknownPeer) {
		t.Errorf("RenewPeer(%q) = %v, want %v", unknown, err, gateway.ErrUnknownPeer)
	}
	if err := gw.RemovePeer(context.Background(), unknown); !errors.Is(err, gateway.ErrUnknownPeer) {
		t.Errorf("RemovePeer(%q) = %v, want %v", unknown, err, gateway.ErrUnknownPeer)
	}
}

// Known bug: AddPeer of a key the gateway already holds at another overlay
// address moves WireGuard's allowed IP but leaves the old entry, whose
// lease timer later removes the key from WireGuard and silently kills the
// new grant (its flow hangs; Peers still lists it).
func TestAddPeerSameKeyNewOverlay(t *testing.T) {
	gw := newGateway(t)
	key := newKey(t)
	upstream := echoUpstream(t)
	first := time.Now().Add(700 * time.Millisecond)
	addPeer(t, gw, peerConfig(key, "100.64.0.2", upstream, first))
	err := gw.AddPeer(context.Background(), peerConfig(key, "100.64.0.5", upstream, time.Now().Add(time.Minute)))
	peers := gw.Peers(context.Background())
	if err != nil {
		// Refusing is fine, as long as the first grant stays whole.
		if len(peers) != 1 || peers[0].OverlayAddr != "100.64.0.2" {
			t.Fatalf("after a refused AddPeer(same key, 100.64.0.5): Peers() = %+v, want only 100.64.0.2", peers)
		}
		return
	}
	if len(peers) != 1 || peers[0].OverlayAddr != "100.64.0.5" {
		t.Errorf("after AddPeer(same key, 100.64.0.5): Peers() = %+v, want only 100.64.0.5", peers)
	}
	conn := dial(t, newAgent(t, gw, key, "100.64.0.5"), appAddr)
	echo(t, conn, "ping")
	time.Sleep(time.Until(first.Add(500 * time.Millisecond)))
	echo(t, conn, "after the old lease")
}

// Known bug: Close queues the resets of open flows but closes the
// WireGuard device before they are sent, so agents' connections hang
// instead of ending.
func TestCloseResetsOpenFlows(t *testing.T) {
	gw := newGateway(t)
	key := newKey(t)
	addPeer(t, gw, peerConfig(key, "100.64.0.2", echoUpstream(t), time.Now().Add(time.Minute)))
	conn := dial(t, newAgent(t, gw, key, "100.64.0.2"), appAddr)
	echo(t, conn, "ping")
	start := time.Now()
	if err := gw.Close(); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}
	awaitReset(t, conn, start.Add(time.Second))
}

// Known bug: removeWireGuardPeer calls removals.Add outside g.mu, so an
// expiry (or RemovePeer) in flight when Close calls removals.Wait breaks
// the WaitGroup contract; the race detector reports it (go test -race).
func TestCloseDuringLeaseExpiry(t *testing.T) {
	gw := newGateway(t)
	key := newKey(t)
	expires := time.Now().Add(300 * time.Millisecond)
	addPeer(t, gw, peerConfig(key, "100.64.0.2", echoUpstream(t), expires))
	for len(gw.Peers(context.Background())) > 0 && time.Now().Before(expires.Add(time.Second)) {
		time.Sleep(time.Millisecond)
	}
	if err := gw.Close(); err != nil {
		t.Errorf("Close() = %v, want nil", err)
	}
}

// syncBuffer is a log destination tests can read while the gateway writes.
type syncBuffer struct {
	mu  sync.Mutex // guards buf
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), s)
}

// TestOpenFlowCapPerPeer: a peer at its open-flow cap is refused at once
// (a reset before the handshake completes), with one log line however
// often it knocks; another peer is not affected, and a closed flow frees
// its place.
func TestOpenFlowCapPerPeer(t *testing.T) {
	const maxFlows = 3
	logs := &syncBuffer{}
	gw, err := gateway.New(gateway.Config{PrivateKey: newKey(t), PublicHost: "127.0.0.1", DialTimeout: 2 * time.Second,
		MaxFlowsPerPeer: maxFlows, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	t.Cleanup(func() { gw.Close() })
	up := echoUpstream(t)
	greedyKey, otherKey := newKey(t), newKey(t)
	addPeer(t, gw, peerConfig(greedyKey, "100.64.0.2", up, time.Now().Add(time.Minute)))
	addPeer(t, gw, peerConfig(otherKey, "100.64.0.3", up, time.Now().Add(time.Minute)))
	greedy, other := newAgent(t, gw, greedyKey, "100.64.0.2"), newAgent(t, gw, otherKey, "100.64.0.3")

	var open []net.Conn
	for i := range maxFlows {
		conn := dial(t, greedy, appAddr)
		echo(t, conn, fmt.Sprintf("flow %d", i))
		open = append(open, conn)
	}
	const knocks = 20
	for range knocks {
		if err := tryDial(greedy, 2*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("DialContext(%s) over the cap of %d = %v, want %v", appAddr, maxFlows, err, syscall.ECONNREFUSED)
		}
	}
	if got := gw.Peers(context.Background())[0].OpenFlows; got != maxFlows {
		t.Errorf("Peers()[0].OpenFlows = %d, want %d", got, maxFlows)
	}
	if got := logs.count("flow refused: peer at its open-flow cap"); got != 1 {
		t.Errorf("log lines about the cap after %d refusals = %d, want 1 (rate-limited)", knocks, got)
	}

	echo(t, dial(t, other, appAddr), "another peer is not affected")

	open[0].Close()
	deadline := time.Now().Add(3 * time.Second)
	for err := tryDial(greedy, time.Second); err != nil; err = tryDial(greedy, time.Second) {
		if time.Now().After(deadline) {
			t.Fatalf("DialContext(%s) after closing one of %d flows = %v, want a connection", appAddr, maxFlows, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestGatewayConfigRefusesBadFlowCap(t *testing.T) {
	gw, err := gateway.New(gateway.Config{PrivateKey: newKey(t), PublicHost: "127.0.0.1", MaxFlowsPerPeer: -1})
	if err == nil {
		gw.Close()
		t.Fatalf("gateway.New(MaxFlowsPerPeer: -1) = nil error, want the cap refused")
	}
	if !strings.Contains(err.Error(), "want a positive cap") {
		t.Errorf("gateway.New(MaxFlowsPerPeer: -1) = %q, want it to say what to set", err)
	}
}

// about reports whether a and b are within 100 ms: a lease is timed from
// its receipt, so the gateway's expiry is the sender's plus the trip.
func about(a, b time.Time) bool {
	d := a.Sub(b)
	return d > -100*time.Millisecond && d < 100*time.Millisecond
}
