package gateways_test

import (
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

const (
	// resyncPeers is how many peers the gateway holds in
	// BenchmarkGatewayResync1000.
	resyncPeers = 1000
	// resyncChurn is how many of them the controller replaces while the
	// gateway is cut off, so that every resync has work to do both ways.
	resyncChurn = 100
	// resyncLeast is the least number of resyncs measured, whatever
	// -benchtime says (each takes about a second, backoff included).
	resyncLeast = 5
)

// BenchmarkGatewayResync1000: a gateway holding 1,000 peers loses its
// controller (listener and every connection closed, as when the process
// dies); while it is gone, 100 of the desired peers are replaced by new
// ones; the controller listens again and the benchmark measures until the
// gateway holds exactly the desired set. It reports, in milliseconds,
// resync-* from the controller listening again (the link's jittered
// backoff, at most 1 s, included: what an operator waits) and sync-* from
// the link proving itself again (the resync proper). Target: resync max
// ≤ 2000 ms.
func BenchmarkGatewayResync1000(b *testing.B) {
	pub, priv := gatewayKey(b)
	c := newController(b, pub)
	pool := make([]api.PeerConfig, 0, resyncPeers+resyncChurn)
	for i := range resyncPeers + resyncChurn {
		_, pc := peer(b, fmt.Sprintf("100.64.%d.%d", 1+i/250, 1+i%250), "127.0.0.1:1", time.Hour)
		pool = append(pool, pc)
	}
	// desired(k) is the set for round k: a window of resyncPeers over the
	// pool, sliding by resyncChurn each round.
	desired := func(k int) ([]api.PeerConfig, []string) {
		set := make([]api.PeerConfig, 0, resyncPeers)
		keys := make([]string, 0, resyncPeers)
		for i := range resyncPeers {
			pc := pool[(k*resyncChurn+i)%len(pool)]
			set = append(set, pc)
			keys = append(keys, pc.PublicKey)
		}
		sort.Strings(keys)
		return set, keys
	}
	set, want := desired(0)
	c.setDesired(set...)
	c.start()
	sa := newStandalone(b, c, priv, c.caPEM)
	c.await("register " + gatewayName)
	if got := peerKeys(sa.gw); !slices.Equal(got, want) {
		b.Fatalf("gateway holds %d peers after the first sync, want the %d desired", len(got), resyncPeers)
	}

	var resync, sync []time.Duration
	round := 0
	trial := func() int {
		round++
		c.stop()
		c.await("unregister " + gatewayName)
		set, want := desired(round)
		if got := peerKeys(sa.gw); slices.Equal(got, want) {
			b.Fatalf("round %d: gateway already holds the next desired set: the benchmark would measure nothing", round)
		}
		c.setDesired(set...)
		back := time.Now()
		c.start()
		for !slices.Equal(peerKeys(sa.gw), want) {
			if time.Since(back) > 10*time.Second {
				b.Fatalf("round %d: gateway holds %d peers, not the %d desired, %s after the controller came back",
					round, len(peerKeys(sa.gw)), resyncPeers, time.Since(back).Round(time.Millisecond))
			}
			time.Sleep(time.Millisecond)
		}
		done := time.Now()
		c.mu.Lock()
		linked := c.lastLookup
		c.mu.Unlock()
		if linked.Before(back) {
			b.Fatalf("round %d: gateway holds the desired set but its link never proved itself again", round)
		}
		resync = append(resync, done.Sub(back))
		sync = append(sync, done.Sub(linked))
		c.await("register " + gatewayName)
		return len(resync)
	}
	for b.Loop() {
		trial()
	}
	for len(resync) < resyncLeast {
		trial()
	}
	report := func(prefix string, ds []time.Duration) {
		s := slices.Clone(ds)
		slices.Sort(s)
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		b.ReportMetric(ms(s[(len(s)-1)/2]), prefix+"p50-ms")
		b.ReportMetric(ms(s[len(s)-1]), prefix+"max-ms")
	}
	report("resync-", resync)
	report("sync-", sync)
	b.ReportMetric(float64(len(resync)), "trials")
}
