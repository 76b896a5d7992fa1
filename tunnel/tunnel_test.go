package tunnel

import (
	"context"
	"errors"
	"io"
	"net/netip"
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
	if _, err := conn.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo = %q, %v, want %q", buf, err, "ping")
	}

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
