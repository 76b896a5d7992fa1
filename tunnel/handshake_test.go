package tunnel_test

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/gatehouse-ztna/gatehouse/tunnel"
	"github.com/gatehouse-ztna/gatehouse/tunnel/tuntest"
)

var (
	appAddr  = netip.MustParseAddrPort("100.80.0.1:80")
	appRange = netip.MustParsePrefix("100.80.0.0/16")
)

// newServer starts a Server that admits every flow and echoes it.
func newServer(t *testing.T, cfg tunnel.ServerConfig) *tunnel.Server {
	t.Helper()
	return newServerServing(t, cfg, func(f *tunnel.Flow) {
		defer f.Close()
		io.Copy(f, f)
	})
}

// newServerServing starts a Server that admits every flow and hands it to
// serve.
func newServerServing(t *testing.T, cfg tunnel.ServerConfig, serve func(*tunnel.Flow)) *tunnel.Server {
	t.Helper()
	key, err := tunnel.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg.PrivateKey = key
	cfg.Admit = func(_, _ netip.AddrPort) bool { return true }
	cfg.Serve = serve
	srv, err := tunnel.NewServer(cfg)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// packetPeer adds a peer at overlay to srv and returns its raw device.
func packetPeer(t *testing.T, srv *tunnel.Server, overlay netip.Addr) *tuntest.PacketPeer {
	t.Helper()
	key, err := tunnel.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.SetPeer(key.Public(), netip.PrefixFrom(overlay, 32)); err != nil {
		t.Fatal(err)
	}
	p, err := tuntest.NewPacketPeer(tuntest.PeerConfig{PrivateKey: key, PeerPublicKey: srv.PublicKey(),
		PeerEndpoint: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(srv.Port())),
		AllowedIPs:   []netip.Prefix{appRange}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// clientPeer adds a peer at overlay to srv and returns a dialing client.
func clientPeer(t *testing.T, srv *tunnel.Server, overlay netip.Addr) *tunnel.Client {
	t.Helper()
	key, err := tunnel.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.SetPeer(key.Public(), netip.PrefixFrom(overlay, 32)); err != nil {
		t.Fatal(err)
	}
	c, err := tunnel.NewClient(tunnel.ClientConfig{PrivateKey: key, Address: overlay, PeerPublicKey: srv.PublicKey(),
		PeerEndpoint: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(srv.Port())),
		AllowedIPs:   []netip.Prefix{appRange}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// awaitSegment reads p's received packets until one matches, or fails
// the test after within.
func awaitSegment(t *testing.T, p *tuntest.PacketPeer, within time.Duration, what string, match func(tuntest.Segment) bool) tuntest.Segment {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case pkt := <-p.Received():
			if s, ok := tuntest.ParseTCP(pkt); ok && match(s) {
				return s
			}
		case <-deadline:
			t.Fatalf("no %s within %s", what, within)
		}
	}
}

func isSYNACK(s tuntest.Segment) bool {
	return s.Flags&header.TCPFlagSyn != 0 && s.Flags&header.TCPFlagAck != 0
}

func TestHandshakeTimeoutResetsAndFreesTheSlot(t *testing.T) {
	const timeout = 500 * time.Millisecond
	srv := newServer(t, tunnel.ServerConfig{HandshakeTimeout: timeout})
	overlay := netip.MustParseAddr("100.64.0.7")
	p := packetPeer(t, srv, overlay)
	src := netip.AddrPortFrom(overlay, 40000)

	start := time.Now()
	if err := p.Send(tuntest.SYN(src, appAddr, 1000)); err != nil {
		t.Fatal(err)
	}
	synAck := awaitSegment(t, p, 5*time.Second, "SYN-ACK", func(s tuntest.Segment) bool { return s.Dst == src && isSYNACK(s) })
	if synAck.Ack != 1001 {
		t.Errorf("SYN-ACK acknowledges %d, want 1001", synAck.Ack)
	}
	if got := srv.SYNStats().HalfOpen; got != 1 {
		t.Errorf("SYNStats().HalfOpen while the handshake waits for its ACK = %d, want 1", got)
	}
	// The ACK never comes: the server must give up on its own, tell the
	// client with a reset, and free the slot.
	awaitSegment(t, p, timeout+2*time.Second, "reset after the handshake timeout", func(s tuntest.Segment) bool {
		return s.Dst == src && s.Flags&header.TCPFlagRst != 0
	})
	took := time.Since(start)
	if took < timeout {
		t.Errorf("handshake reset after %s, want no earlier than HandshakeTimeout %s", took, timeout)
	}
	st := srv.SYNStats()
	if st.HalfOpen != 0 || st.TimedOut != 1 {
		t.Errorf("SYNStats() after the timeout = %+v, want HalfOpen 0 and TimedOut 1", st)
	}
	t.Logf("handshake without ACK reset after %s (HandshakeTimeout %s)", took.Round(time.Millisecond), timeout)
}

func TestHalfOpenCapIsPerPeer(t *testing.T) {
	const perPeer = 8
	logs := &syncBuffer{}
	srv := newServer(t, tunnel.ServerConfig{MaxHalfOpenPerPeer: perPeer, MaxHalfOpen: 4 * perPeer, HandshakeTimeout: time.Minute,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	flooder := netip.MustParseAddr("100.64.0.7")
	p := packetPeer(t, srv, flooder)

	// Ten times the cap in new tuples, each never completed, and each
	// sent twice (a retransmission must not count again).
	for i := 0; i < 10*perPeer; i++ {
		syn := tuntest.SYN(netip.AddrPortFrom(flooder, uint16(20000+i)), appAddr, uint32(i))
		for range 2 {
			if err := p.Send(syn); err != nil {
				t.Fatal(err)
			}
		}
	}
	answered := map[netip.AddrPort]bool{}
	deadline := time.After(2 * time.Second)
collect:
	for {
		select {
		case pkt := <-p.Received():
			if s, ok := tuntest.ParseTCP(pkt); ok && isSYNACK(s) {
				answered[s.Dst] = true
			}
		case <-deadline:
			break collect
		}
	}
	if len(answered) != perPeer {
		t.Errorf("flooding peer got handshakes for %d tuples, want exactly its cap of %d", len(answered), perPeer)
	}
	st := srv.SYNStats()
	if st.HalfOpen != perPeer || st.Dropped < uint64(9*perPeer) {
		t.Errorf("SYNStats() = %+v, want HalfOpen %d and at least %d dropped", st, perPeer, 9*perPeer)
	}
	if got := logs.count("SYNs dropped"); got != 1 {
		t.Errorf("log lines about %d dropped SYNs = %d, want 1 (rate-limited)", st.Dropped, got)
	}

	// Another peer is not affected.
	c := clientPeer(t, srv, netip.MustParseAddr("100.64.0.8"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	conn, err := c.DialContext(ctx, appAddr)
	if err != nil {
		t.Fatalf("DialContext(%s) from another peer while the first is at its cap = %v, want a connection", appAddr, err)
	}
	conn.Close()
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("another peer's dial took %s, want well under the 1 s SYN retransmission (no SYN of it dropped)", took)
	}
}

func TestServerConfigRefusesBadLimits(t *testing.T) {
	key, _ := tunnel.NewPrivateKey()
	admit := func(_, _ netip.AddrPort) bool { return true }
	serve := func(f *tunnel.Flow) { f.Close() }
	tests := []struct {
		name string
		in   tunnel.ServerConfig
	}{
		{name: "negative per-peer cap", in: tunnel.ServerConfig{MaxHalfOpenPerPeer: -1}},
		{name: "global cap below per-peer cap", in: tunnel.ServerConfig{MaxHalfOpenPerPeer: 100, MaxHalfOpen: 10}},
		{name: "negative handshake timeout", in: tunnel.ServerConfig{HandshakeTimeout: -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.PrivateKey, tt.in.Admit, tt.in.Serve = key, admit, serve
			srv, err := tunnel.NewServer(tt.in)
			if err == nil {
				srv.Close()
				t.Fatalf("NewServer(%+v) = nil error, want the limits refused", tt.in)
			}
		})
	}
}

// TestNewSYNEndsTimeWait: the gateway closes first (as when an upstream
// ends an HTTP/1.0 answer), so it holds the tuple in TIME_WAIT; a client
// that opens a new connection from the same source port must get a
// handshake, not silence.
func TestNewSYNEndsTimeWait(t *testing.T) {
	srv := newServerServing(t, tunnel.ServerConfig{}, func(f *tunnel.Flow) { f.Close() })
	overlay := netip.MustParseAddr("100.64.0.7")
	p := packetPeer(t, srv, overlay)
	src := netip.AddrPortFrom(overlay, 40000)
	from := func(s tuntest.Segment) bool { return s.Dst == src }
	send := func(flags header.TCPFlags, seq, ack uint32) {
		t.Helper()
		if err := p.Send(tuntest.TCPPacket(tuntest.Segment{Src: src, Dst: appAddr, Flags: flags, Seq: seq, Ack: ack})); err != nil {
			t.Fatal(err)
		}
	}

	send(header.TCPFlagSyn, 1000, 0)
	synAck := awaitSegment(t, p, 5*time.Second, "SYN-ACK", func(s tuntest.Segment) bool { return from(s) && isSYNACK(s) })
	send(header.TCPFlagAck, 1001, synAck.Seq+1)
	fin := awaitSegment(t, p, 5*time.Second, "the gateway's FIN", func(s tuntest.Segment) bool { return from(s) && s.Flags&header.TCPFlagFin != 0 })
	send(header.TCPFlagAck|header.TCPFlagFin, 1001, fin.Seq+1)
	awaitSegment(t, p, 5*time.Second, "the ACK of our FIN", func(s tuntest.Segment) bool {
		return from(s) && s.Flags == header.TCPFlagAck && s.Ack == 1002
	})
	// The gateway is in TIME_WAIT for this tuple now. A new connection,
	// its SYN sent again after 1 s as a real client does (TIME_WAIT lasts
	// a minute: without the recycling both vanish):
	send(header.TCPFlagSyn, 900000, 0)
	retry := time.AfterFunc(time.Second, func() {
		_ = p.Send(tuntest.TCPPacket(tuntest.Segment{Src: src, Dst: appAddr, Flags: header.TCPFlagSyn, Seq: 900000}))
	})
	defer retry.Stop()
	again := awaitSegment(t, p, 3*time.Second, "SYN-ACK to a new SYN on a tuple in TIME_WAIT",
		func(s tuntest.Segment) bool { return from(s) && isSYNACK(s) })
	if again.Ack != 900001 {
		t.Errorf("SYN-ACK to the new SYN acknowledges %d, want 900001", again.Ack)
	}
}

// syncBuffer is a log destination tests can read while the server writes.
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
