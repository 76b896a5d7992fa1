package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent"
)

// realPostureCut is the bound: a real fact change cuts an open
// connection within a second.
const realPostureCut = time.Second

// TestRealProcessKillCutsAndRestartRestores, with the real collectors
// and their event watcher (no override file): killing the process the
// policy requires cuts an open flow within a second, the gateway holding
// no peer for the device by then; starting it again brings access back.
// The agent's poll is set to a minute, so the bound is met by the events
// alone (with the default 1 s poll a cut lands within about a second
// without them, which this test could not tell from a pass).
func TestRealProcessKillCutsAndRestartRestores(t *testing.T) {
	env, a, proc := realPostureEnv(t, func(c *agent.Config) { c.CollectInterval = time.Minute })
	ctx := context.Background()
	for trial := 1; trial <= 5; trial++ {
		s := a.OpenStream("grafana")
		if peers := env.Gateway.Peers(ctx); len(peers) != 1 {
			t.Fatalf("trial %d: gateway peers = %+v, want alice's one tunnel", trial, peers)
		}
		killed := time.Now()
		proc.kill(t)
		took := s.AwaitEnd(t, realPostureCut)
		Eventually(t, realPostureCut-time.Since(killed), func() error {
			if peers := env.Gateway.Peers(ctx); len(peers) != 0 {
				return fmt.Errorf("trial %d: gateway still holds %+v %s after the kill", trial, peers, time.Since(killed))
			}
			return nil
		})
		t.Logf("trial %d: flow cut %s after the kill, gateway peer gone by %s", trial, took.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
		if got, err := a.Get("grafana", "/"); err == nil {
			t.Fatalf("trial %d: Get(grafana) with the required process dead = %q, want refused", trial, got)
		}

		started := time.Now()
		proc.start(t)
		a.Decision("grafana", true, 5*time.Second)
		awaitGet(t, a, "grafana")
		t.Logf("trial %d: access back %s after the start", trial, time.Since(started).Round(time.Millisecond))
	}
}
