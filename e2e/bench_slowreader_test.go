package e2e

import (
	"errors"
	"slices"
	"syscall"
	"testing"
	"time"
)

// benchSlowReaderTrials is the least number of trials
// BenchmarkRevocationSlowReader runs, whatever -benchtime says; p99 is
// reported only from benchP99Trials on.
const (
	benchSlowReaderTrials = 100
	benchP99Trials        = 100
)

// BenchmarkRevocationSlowReader is BenchmarkRevocation for a client that
// reads slower than the app sends (1 KiB every 10 ms from a 4 MiB receive
// buffer, the app writing 64 KiB chunks as fast as it can): from the
// posture flip to the moment the client's read fails — the application
// sees the end — and whether that end is a reset. An idle connection ends
// as soon as the agent or gateway acts; a slow reader would go on reading
// whatever was queued for it before the decision.
//
// Reported: p50-ms and max-ms from the flip, p99-ms only with at least 100
// trials (below that, max-ms stands in for it and the log says so);
// log-max-ms from the agent's revocation log line to the end;
// max-bytes-after-log, what a reader still got after that line; resets,
// the share of trials that ended in ECONNRESET (want 1).
func BenchmarkRevocationSlowReader(b *testing.B) {
	_, a, revoked := newBulkEnv(b)
	addr := a.Addr("bulk")

	var fromFlip, fromLog []time.Duration
	resets, maxAfter := 0, 0
	trial := func() {
		s := openSlowRead(b, addr)
		for start := time.Now(); time.Since(start) < 300*time.Millisecond; {
			if ev := <-s.reads; ev.err != nil {
				b.Fatalf("trial %d: slow read before the flip: %v", len(fromFlip)+1, ev.err)
			}
		}
		t0 := time.Now()
		a.SetPosture(badPosture)
		end, revokedAt, after := s.untilEnd(b, revoked, 10*time.Second)
		fromFlip = append(fromFlip, end.at.Sub(t0))
		fromLog = append(fromLog, max(0, end.at.Sub(revokedAt)))
		maxAfter = max(maxAfter, after)
		if errors.Is(end.err, syscall.ECONNRESET) {
			resets++
		}
		s.conn.Close()
		a.SetPosture(GoodPosture)
		a.Decision("bulk", true, 5*time.Second)
	}
	runTrials(b, benchSlowReaderTrials, func() int { trial(); return len(fromFlip) })
	n := len(fromFlip)
	sorted := slices.Clone(fromFlip)
	slices.Sort(sorted)
	b.ReportMetric(millis(nearestRank(sorted, 0.50)), "p50-ms")
	if n >= benchP99Trials {
		b.ReportMetric(millis(nearestRank(sorted, 0.99)), "p99-ms")
	} else {
		b.Logf("p99-ms not reported: %d trials, fewer than %d; max-ms stands in for it", n, benchP99Trials)
	}
	b.ReportMetric(millis(sorted[n-1]), "max-ms")
	b.ReportMetric(millis(slices.Max(fromLog)), "log-max-ms")
	b.ReportMetric(float64(maxAfter), "max-bytes-after-log")
	b.ReportMetric(float64(resets)/float64(n), "resets")
	b.ReportMetric(float64(n), "trials")
}
