package tunnel

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// echoServer starts a Server with key on port (0 picks one) that echoes
// the flows admit lets through, with client as its one peer.
func echoServer(t *testing.T, key PrivateKey, port int, client PublicKey, admit func(dst netip.AddrPort) bool) *Server {
	t.Helper()
	srv, err := NewServer(ServerConfig{PrivateKey: key, ListenPort: port,
		Admit: func(_, dst netip.AddrPort) bool { return admit(dst) },
		Serve: func(f *Flow) {
			defer f.Close()
			io.Copy(f, f)
		}})
	if err != nil {
		t.Fatalf("NewServer(port %d): %v", port, err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := srv.SetPeer(client, netip.PrefixFrom(netip.MustParseAddr("100.64.0.2"), 32)); err != nil {
		t.Fatal(err)
	}
	return srv
}

// echo sends a word through c and reads it back.
func echo(c net.Conn) error {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "ping"); err != nil {
		return fmt.Errorf("write through the tunnel: %w", err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		return fmt.Errorf("echo through the tunnel = %q, %v, want %q", buf, err, "ping")
	}
	return nil
}

// dialClient starts a Client whose gateway is srv, with key.
func dialClient(t *testing.T, key PrivateKey, srv *Server) *Client {
	t.Helper()
	cl, err := NewClient(ClientConfig{PrivateKey: key, Address: netip.MustParseAddr("100.64.0.2"),
		PeerPublicKey: srv.PublicKey(), PeerEndpoint: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(srv.Port())),
		AllowedIPs: []netip.Prefix{netip.MustParsePrefix("100.80.0.0/16")}})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// dialAll dials dst n times at once, each within limit, echoes through
// every connection, and returns what failed.
func dialAll(cl *Client, dst netip.AddrPort, n int, limit time.Duration) []error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), limit)
			defer cancel()
			c, err := cl.DialContext(ctx, dst)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			if err := echo(c); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	var failed []error
	for err := range errs {
		failed = append(failed, err)
	}
	return failed
}

// TestDialRecoversFromRestartedServer: a server restarted with the same
// key, port and peer has lost the WireGuard session the client still
// holds, and drops its packets without a word. The client's next dials get
// through within 2 s (WireGuard's own retry would take ~15 s).
func TestDialRecoversFromRestartedServer(t *testing.T) {
	app := netip.MustParseAddrPort("100.80.0.1:80")
	serverKey, _ := NewPrivateKey()
	clientKey, _ := NewPrivateKey()
	all := func(netip.AddrPort) bool { return true }
	srv := echoServer(t, serverKey, 0, clientKey.Public(), all)
	cl := dialClient(t, clientKey, srv)
	if errs := dialAll(cl, app, 1, 5*time.Second); errs != nil {
		t.Fatalf("dial %s before the restart: %v", app, errs)
	}

	srv.Close()
	echoServer(t, serverKey, srv.Port(), clientKey.Public(), all)
	start := time.Now()
	for _, err := range dialAll(cl, app, 4, 2*time.Second) {
		t.Errorf("a dial to %s after the server restarted: %v, want a connection within 2 s", app, err)
	}
	t.Logf("dials through the tunnel served again %s after the server restarted", time.Since(start).Round(time.Millisecond))
	if got := cl.sessionRestarts.Load(); got != 1 {
		t.Errorf("fresh handshakes forced = %d, want 1", got)
	}
}

// TestDialsToAGoneServerForceOneHandshake: dials that wait together on a
// server that is gone force one fresh handshake between them, not one
// each, and fail at their own deadline.
func TestDialsToAGoneServerForceOneHandshake(t *testing.T) {
	app := netip.MustParseAddrPort("100.80.0.1:80")
	serverKey, _ := NewPrivateKey()
	clientKey, _ := NewPrivateKey()
	srv := echoServer(t, serverKey, 0, clientKey.Public(), func(netip.AddrPort) bool { return true })
	cl := dialClient(t, clientKey, srv)
	if errs := dialAll(cl, app, 1, 5*time.Second); errs != nil {
		t.Fatalf("dial %s before the server went: %v", app, errs)
	}

	srv.Close()
	limit := noAnswerWait + 500*time.Millisecond
	start := time.Now()
	errs := dialAll(cl, app, 8, limit)
	if took := time.Since(start); len(errs) != 8 || took > limit+time.Second {
		t.Errorf("8 dials to a gone server = %d failed after %s, want 8 failed at their %s deadline", len(errs), took, limit)
	}
	if got := cl.sessionRestarts.Load(); got != 1 {
		t.Errorf("fresh handshakes forced by 8 dials waiting together = %d, want 1", got)
	}
}

// TestDialKeepsALiveSession: a dial that gets no answer within
// noAnswerWait while the server is sending on another flow is only tried
// again; the session, which is evidently alive, is left alone.
func TestDialKeepsALiveSession(t *testing.T) {
	app := netip.MustParseAddrPort("100.80.0.1:80")
	slow := netip.MustParseAddrPort("100.80.0.1:81")
	serverKey, _ := NewPrivateKey()
	clientKey, _ := NewPrivateKey()
	// The first handshake to slow waits past noAnswerWait; the retry is
	// answered at once.
	var mu sync.Mutex
	held := false
	admit := func(dst netip.AddrPort) bool {
		if dst != slow {
			return true
		}
		mu.Lock()
		first := !held
		held = true
		mu.Unlock()
		if first {
			time.Sleep(noAnswerWait + 500*time.Millisecond)
		}
		return true
	}
	srv := echoServer(t, serverKey, 0, clientKey.Public(), admit)
	cl := dialClient(t, clientKey, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	busy, err := cl.DialContext(ctx, app)
	if err != nil {
		t.Fatalf("DialContext(%s) = %v", app, err)
	}
	defer busy.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() { // traffic both ways on another flow while the slow dial waits
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := io.WriteString(busy, "x"); err != nil {
				return
			}
			busy.Read(make([]byte, 1))
		}
	}()

	c, err := cl.DialContext(ctx, slow)
	if err != nil {
		t.Fatalf("DialContext(%s) = %v, want a connection on the retry", slow, err)
	}
	defer c.Close()
	if err := echo(c); err != nil {
		t.Fatal(err)
	}
	if got := cl.sessionRestarts.Load(); got != 0 {
		t.Errorf("fresh handshakes forced = %d, want 0 while the server was answering", got)
	}
}

// TestDialEndsWhenTheClientCloses: a dial waiting on a silent gateway ends
// as soon as its tunnel is closed (the agent tearing it down on a
// revocation), without a retry or a forced handshake.
func TestDialEndsWhenTheClientCloses(t *testing.T) {
	app := netip.MustParseAddrPort("100.80.0.1:80")
	serverKey, _ := NewPrivateKey()
	clientKey, _ := NewPrivateKey()
	srv := echoServer(t, serverKey, 0, clientKey.Public(), func(netip.AddrPort) bool { return true })
	cl := dialClient(t, clientKey, srv)
	if errs := dialAll(cl, app, 1, 5*time.Second); errs != nil {
		t.Fatalf("dial %s before the server went: %v", app, errs)
	}
	srv.Close()
	time.AfterFunc(noAnswerWait/2, func() { cl.Close() })
	start := time.Now()
	_, err := cl.DialContext(context.Background(), app)
	if took := time.Since(start); err == nil || took > noAnswerWait {
		t.Errorf("DialContext(%s) while the client closed = %v after %s, want an error within %s", app, err, took, noAnswerWait)
	}
	if got := cl.sessionRestarts.Load(); got != 0 {
		t.Errorf("fresh handshakes forced on a closed client = %d, want 0", got)
	}
}
