package posture

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// benchQuery is what a realistic profile asks: a required daemon by path
// and SHA-256, another by path alone, and one by name.
func benchQuery(b *testing.B) api.PostureQuery {
	b.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		b.Skipf("no sleep: %v", err)
	}
	bin, err := os.ReadFile(sleep)
	if err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256(bin)
	cmd := exec.Command(sleep, "3600") // running, so the match is found
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return api.PostureQuery{Processes: []string{sleep + ":" + hex.EncodeToString(sum[:]), "/usr/sbin/sshd", "cron"}}
}

// BenchmarkPostureReport measures what the agent pays per report on this
// machine. full: every fact read again, as after an nftables, mount or
// package event or at the slow-facts TTL (nft and iptables runs, mountinfo
// and sysfs walks, os-release, the process table). recheck: what a
// process event costs: the slow facts come from the cache and the
// process table is read again. scripts/bench.sh prints full/recheck.
func BenchmarkPostureReport(b *testing.B) {
	q := benchQuery(b)
	ctx := context.Background()
	s := NewSystem("bench")
	if r := s.Collect(ctx, q); !r.Processes[q.Processes[0]].Value {
		b.Fatalf("Collect(%v).Processes = %+v, want the running sleep found", q.Processes, r.Processes)
	}
	b.Run("full", func(b *testing.B) {
		for b.Loop() {
			s.dropSlowFacts()
			s.Collect(ctx, q)
		}
	})
	b.Run("recheck", func(b *testing.B) {
		for b.Loop() {
			s.Collect(ctx, q)
		}
	})
}
