package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/gatehouse-ztna/gatehouse/tunnel"
	"github.com/gatehouse-ztna/gatehouse/tunnel/tuntest"
)

// TestSYNFloodFromOnePeerIsInvisibleToOthers: a device holding a real
// grant floods the gateway with SYNs to its own allowed destination — far
// more than the forwarder's old global limit of 1024, and sustained — while
// another device's agent keeps opening connections. The other agent's connections
// must stay fast (p99 under 100 ms), and the flooding peer must get no
// more than its per-peer share of handshakes.
//
// The flood runs as fast as the sender can, except under the race
// detector, where it is paced at floodRateRace: there the gateway's
// WireGuard receive path is about ten times slower than a sender's, so an
// unpaced flood overflows the gateway's UDP socket and the kernel drops
// every peer's packets alike — a volumetric flood, which no per-peer
// control behind one socket can sort (see docs/threat-model-notes-h3.md).
func TestSYNFloodFromOnePeerIsInvisibleToOthers(t *testing.T) {
	const (
		burst         = 5000                   // SYNs sent before the measurement starts
		floodRateRace = 5000                   // SYNs per second under the race detector
		sustain       = 3 * time.Second        // the flood lasts at least this long
		probes        = 200                    // connections the other agent opens
		wantP99       = 100 * time.Millisecond // for those connections
		probeWait     = 5 * time.Second        // a probe that takes longer failed
	)
	env, alice := NewStandard(t, Options{})
	addr := alice.Addr("grafana")
	if _, err := timedGet(addr, probeWait); err != nil {
		t.Fatalf("GET through alice's tunnel before the flood: %v", err)
	}

	raw := env.RawPeer(t, "alice")
	g := raw.Grant("grafana")
	flood := g.Packets()
	dst := g.App(g.Port())

	// The gateway's answers: a SYN-ACK shows the grant is real and the SYN
	// reached the forwarder.
	var answerMu sync.Mutex                       // guards firstSYNACK
	firstSYNACK := map[netip.AddrPort]time.Time{} // flood tuple → when its handshake began
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	answersDone := make(chan struct{})
	go func() {
		defer close(answersDone)
		for {
			select {
			case <-ctx.Done():
				return
			case pkt := <-flood.Received():
				s, ok := tuntest.ParseTCP(pkt)
				if !ok || s.Flags&header.TCPFlagSyn == 0 || s.Flags&header.TCPFlagAck == 0 {
					continue
				}
				answerMu.Lock()
				if _, seen := firstSYNACK[s.Dst]; !seen {
					firstSYNACK[s.Dst] = time.Now()
				}
				answerMu.Unlock()
			}
		}
	}()

	// Each source port keeps one sequence number, so when the ports wrap
	// a SYN is a retransmission of its tuple, not a new connection.
	var sent atomic.Int64
	burstSent := make(chan struct{})
	floodDone := make(chan struct{})
	floodStart := time.Now()
	go func() {
		defer close(floodDone)
		pace := time.NewTicker(10 * time.Millisecond)
		defer pace.Stop()
		port := uint16(1024)
		for n := int64(1); ctx.Err() == nil; n++ {
			if raceBuild && n%(floodRateRace/100) == 0 {
				<-pace.C
			}
			if err := flood.Send(tuntest.SYN(netip.AddrPortFrom(g.Overlay(), port), dst, uint32(port)*7919)); err != nil {
				return
			}
			sent.Store(n)
			if n == burst {
				close(burstSent)
			}
			if port++; port == 0 {
				port = 1024
			}
		}
	}()
	select {
	case <-burstSent:
	case <-time.After(30 * time.Second):
		t.Fatalf("the flood sent only %d SYNs in 30 s", sent.Load())
	}

	var lat []time.Duration
	var failed int
	var firstErrs []string
	measureStart := time.Now()
	for i := 0; i < probes || time.Since(measureStart) < sustain; i++ {
		d, err := timedGet(addr, probeWait)
		if err != nil {
			d = probeWait
			if failed++; len(firstErrs) < 3 {
				firstErrs = append(firstErrs, err.Error())
			}
		}
		lat = append(lat, d)
	}
	floodFor := time.Since(floodStart)
	stop()
	<-floodDone
	<-answersDone

	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p50, p99 := lat[len(lat)/2], lat[(len(lat)*99+99)/100-1]
	// Within one handshake timeout of the start nothing the flood took can
	// have been freed, so the tuples answered by then are its share.
	window := tunnel.DefaultHandshakeTimeout - time.Second
	answerMu.Lock()
	handshakes, early := len(firstSYNACK), 0
	for _, at := range firstSYNACK {
		if at.Sub(floodStart) < window {
			early++
		}
	}
	answerMu.Unlock()
	t.Logf("flood: %d SYNs in %s (%.0f/s, race detector %v) from one peer; gateway began %d handshakes for it, %d in the first %s",
		sent.Load(), floodFor.Round(time.Millisecond), float64(sent.Load())/floodFor.Seconds(), raceBuild, handshakes, early, window)
	t.Logf("other agent during the flood: %d connections, p50 %s, p99 %s, max %s, %d failed",
		len(lat), p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond), failed)
	if p99 >= wantP99 {
		t.Errorf("p99 of the other agent's connections during the flood = %s, want < %s (%d failed: %q)", p99, wantP99, failed, firstErrs)
	}
	if handshakes == 0 {
		t.Errorf("the gateway answered none of the flood's SYNs: the flood did not reach the forwarder, so this test proves nothing")
	}
	if max := tunnel.DefaultMaxHalfOpenPerPeer; early > max {
		t.Errorf("the gateway began %d handshakes for the flooding peer within %s, want at most its per-peer cap of %d", early, window, max)
	}
}

// timedGet opens a fresh connection to addr, sends an HTTP/1.0 GET and
// reads the whole answer; it returns how long that took.
func timedGet(addr string, within time.Duration) (time.Duration, error) {
	start := time.Now()
	conn, err := net.DialTimeout("tcp", addr, within)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	conn.SetDeadline(start.Add(within))
	if _, err := io.WriteString(conn, "GET / HTTP/1.0\r\nHost: "+addr+"\r\n\r\n"); err != nil {
		return 0, err
	}
	b, err := io.ReadAll(conn)
	if err != nil {
		return 0, err
	}
	if !strings.HasSuffix(string(b), "hello from grafana") {
		return 0, fmt.Errorf("GET %s = %q, want the grafana answer", addr, b)
	}
	return time.Since(start), nil
}
