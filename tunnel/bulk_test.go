package tunnel

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// bulkApp is the app address of the bulk tests: its flows are echoed back
// whole.
var bulkApp = netip.MustParseAddrPort("100.80.0.1:80")

// TestBulkTransferIsExact sends 16 MiB of varied bytes through a tunnel
// pair and reads the echo back: every byte arrives, in order, both ways,
// whatever the stacks merge (GRO) or split (GSO) on the way.
func TestBulkTransferIsExact(t *testing.T) {
	_, cl, _ := newPair(t, func(_, dst netip.AddrPort) bool { return dst == bulkApp }, func(f *Flow) {
		defer f.Close()
		io.Copy(f, f)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := cl.DialContext(ctx, bulkApp)
	if err != nil {
		t.Fatalf("DialContext(%s) = %v, want a connection", bulkApp, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	const size = 16 << 20
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + i>>13)
	}
	go func() {
		conn.Write(data)
		if cw, ok := conn.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
	}()
	got, err := io.ReadAll(conn)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("echo of %d bytes = %d bytes (sha256 %x, want %x), %v", size, len(got), sha256.Sum256(got), sha256.Sum256(data), err)
	}
}

// BenchmarkTunnelPair pushes 64 KiB writes through a Client → Server pair
// on loopback to a discarding flow: the tunnel's own cost, in process.
func BenchmarkTunnelPair(b *testing.B) {
	serverKey, _ := NewPrivateKey()
	srv, err := NewServer(ServerConfig{PrivateKey: serverKey, Admit: func(_, dst netip.AddrPort) bool { return dst == bulkApp },
		Serve: func(f *Flow) { defer f.Close(); io.Copy(io.Discard, f) }})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	clientKey, _ := NewPrivateKey()
	overlay := netip.MustParseAddr("100.64.0.2")
	if err := srv.SetPeer(clientKey.Public(), netip.PrefixFrom(overlay, 32)); err != nil {
		b.Fatal(err)
	}
	cl, err := NewClient(ClientConfig{PrivateKey: clientKey, Address: overlay, PeerPublicKey: srv.PublicKey(),
		PeerEndpoint: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(srv.Port())),
		AllowedIPs:   []netip.Prefix{netip.MustParsePrefix("100.64.0.0/10")}})
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	conn, err := cl.DialContext(context.Background(), bulkApp)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(buf)))
	cpu0 := cpuTime()
	for b.Loop() {
		if _, err := conn.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	// CPU time is the steadier figure on a shared machine: wall time
	// counts the time others had the CPU.
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/(float64(b.N*len(buf))/1e6), "cpu-ms/MB")
}

// cpuTime is the process's user + system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
