package tunnel

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
)

// newPair starts a Server with admit and serve, and a Client peered with it.
func newPair(t *testing.T, admit func(src, dst netip.AddrPort) bool, serve func(*Flow)) (*Server, *Client, PublicKey) {
	t.Helper()
	serverKey, _ := NewPrivateKey()
	srv, err := NewServer(ServerConfig{PrivateKey: serverKey, Admit: admit, Serve: serve})
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	clientKey, _ := NewPrivateKey()
	overlay := netip.MustParseAddr("100.64.0.2")
	if err := srv.SetPeer(clientKey.Public(), netip.PrefixFrom(overlay, 32)); err != nil {
		t.Fatal(err)
	}
	cl, err := NewClient(ClientConfig{
		PrivateKey:    clientKey,
		Address:       overlay,
		PeerPublicKey: srv.PublicKey(),
		PeerEndpoint:  netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(srv.Port())),
		AllowedIPs:    []netip.Prefix{netip.MustParsePrefix("100.64.0.0/10")},
	})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { cl.Close() })
	return srv, cl, clientKey.Public()
}

func TestServerAdmitsOnlyAllowedFlows(t *testing.T) {
	app := netip.MustParseAddrPort("100.80.0.1:80")
	_, cl, _ := newPair(t, func(_, dst netip.AddrPort) bool { return dst == app }, func(f *Flow) {
		defer f.Close()
		io.Copy(f, f)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	conn, err := cl.DialContext(ctx, app)
	if err != nil {
		t.Fatalf("DialContext(%s) = %v, want a connection", app, err)
	}
	defer conn.Close()
	assertEcho(t, conn)

	for _, dst := range []string{"100.80.0.1:81", "100.80.0.2:80"} {
		_, err := cl.DialContext(ctx, netip.MustParseAddrPort(dst))
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("DialContext(%s) = %v, want connection refused", dst, err)
		}
	}
}

func TestResetReachesClient(t *testing.T) {
	app := netip.MustParseAddrPort("100.80.0.1:80")
	flows := make(chan *Flow, 1)
	srv, cl, clientPub := newPair(t, func(_, _ netip.AddrPort) bool { return true }, func(f *Flow) { flows <- f })
	conn, err := cl.DialContext(context.Background(), app)
	if err != nil {
		t.Fatal(err)
	}
	f := <-flows
	f.Reset()
	srv.Flush(100 * time.Millisecond)
	srv.RemovePeer(clientPub)
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err = conn.Read(make([]byte, 1))
	var ne interface{ Timeout() bool }
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("Read after Reset = %v, want the connection to end at once", err)
	}
}

// TestFlowHalfClosePassesThrough: a server that ends its side cleanly
// gives the client an orderly EOF, and the client may still send.
func TestFlowHalfClosePassesThrough(t *testing.T) {
	app := netip.MustParseAddrPort("100.80.0.1:80")
	got := make(chan string, 1)
	_, cl, _ := newPair(t, func(_, _ netip.AddrPort) bool { return true }, func(f *Flow) {
		defer f.Close()
		io.WriteString(f, "bye")
		if err := f.CloseWrite(); err != nil {
			got <- "CloseWrite: " + err.Error()
			return
		}
		b, _ := io.ReadAll(f)
		got <- string(b)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := cl.DialContext(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(conn)
	if err != nil || string(b) != "bye" {
		t.Fatalf("ReadAll after the server's half-close = %q, %v, want %q and EOF", b, err, "bye")
	}
	io.WriteString(conn, "still talking")
	conn.(interface{ CloseWrite() error }).CloseWrite()
	if s := <-got; s != "still talking" {
		t.Errorf("server read after its half-close = %q, want %q", s, "still talking")
	}
}

// TestAbortResetsAFlow: Abort on a flow resets it (the client sees a
// reset, not an EOF).
func TestAbortResetsAFlow(t *testing.T) {
	app := netip.MustParseAddrPort("100.80.0.1:80")
	_, cl, _ := newPair(t, func(_, _ netip.AddrPort) bool { return true }, func(f *Flow) { Abort(f) })
	conn, err := cl.DialContext(context.Background(), app)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = conn.Read(make([]byte, 1))
	if err == nil || errors.Is(err, io.EOF) || !strings.Contains(err.Error(), "reset") {
		t.Fatalf("Read after Abort(flow) = %v, want a connection reset", err)
	}
}
