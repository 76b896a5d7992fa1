package e2e

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// benchFloodTrials is how many grants the second session asks for in each
// phase of each BenchmarkPostureFlood iteration.
const benchFloodTrials = 200

// BenchmarkPostureFlood measures what one session flooding posture reports
// costs everyone else. Each iteration runs two phases back to back: a
// second session asks for benchFloodTrials grants (a fresh key each:
// grant_request → the gateway's ack → grant) with no flood, then again
// while the first session sends posture reports as fast as it can. It
// reports the second session's grant latency in both phases, the flood's
// rate, and the decision sets the controller computed per second during it.
// Alice is entitled to 300 apps, so each decision set costs something.
func BenchmarkPostureFlood(b *testing.B) {
	var st store.Store
	env := New(b, Options{Controller: both(ramDataDir(b), keepStore(&st, nil), func(cfg *controller.Config) {
		// The second session asks as fast as it can: measure latency, not
		// the grant request limit.
		cfg.GrantRequestRate, cfg.GrantRequestBurst = 1e6, 1e6
	})})
	env.Standard(b)
	entitle(b, env, "bench", "eng", bulkApps(b, st, 300, env.Upstream(b, "bulk")), "secure")
	probe := dialWire(b, env, enrollWireDevice(b, env, "alice"), wireOptions{})
	Must(b, probe.Send(api.TypePosture, passingPostureReport()))
	flooder := dialWire(b, env, enrollWireDevice(b, env, "alice"), wireOptions{})
	Must(b, flooder.Send(api.TypePosture, passingPostureReport()))

	grants := func() []time.Duration {
		var out []time.Duration
		for range benchFloodTrials {
			g, reasons, took := probe.AskTimed("grafana")
			if reasons != nil {
				b.Fatalf("grant request for grafana denied: %+v", reasons)
			}
			out = append(out, took)
			Must(b, probe.Send(api.TypeRelease, api.Release{App: "grafana", PublicKey: g.PublicKey}))
		}
		return out
	}
	var base, flooded []time.Duration
	var reports, sets int
	var floodTime time.Duration
	for b.Loop() {
		base = append(base, grants()...)

		stop, done := make(chan struct{}), make(chan int)
		go func() {
			rep := passingPostureReport()
			n := 0
			for ; ; n++ {
				select {
				case <-stop:
					done <- n
					return
				default:
				}
				rep.Hostname = api.KnownString(fmt.Sprintf("flood-%d", n))
				if err := flooder.Send(api.TypePosture, rep); err != nil {
					b.Errorf("flood: %v", err)
					done <- n
					return
				}
			}
		}()
		sets0, start := env.Ctrl.DecisionSets(), time.Now()
		flooded = append(flooded, grants()...)
		close(stop)
		reports += <-done
		floodTime += time.Since(start)
		sets += int(env.Ctrl.DecisionSets() - sets0)
	}
	b.StopTimer()
	if err := flooder.Ended(); err != nil {
		b.Errorf("the flooding session ended: %v", err)
	}
	reportWireLatencies(b, "base-grant-", base)
	reportWireLatencies(b, "flood-grant-", flooded)
	b.ReportMetric(float64(reports)/floodTime.Seconds(), "flood-reports/s")
	b.ReportMetric(float64(sets)/floodTime.Seconds(), "decision-sets/s")
	b.ReportMetric(float64(len(flooded)), "trials")
}

// reportWireLatencies reports the p50, p99 and max of ds in milliseconds,
// with prefix before each unit (p99 needs ≥ 100 trials to mean anything).
func reportWireLatencies(b *testing.B, prefix string, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		return s[max(0, min(int(math.Ceil(p*float64(len(s))))-1, len(s)-1))]
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(rank(0.50)), prefix+"p50-ms")
	b.ReportMetric(ms(rank(0.99)), prefix+"p99-ms")
	b.ReportMetric(ms(s[len(s)-1]), prefix+"max-ms")
}
