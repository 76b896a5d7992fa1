package controlclient

import (
	"testing"
	"time"
)

func TestBackoffWait(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name   string
		jitter func(time.Duration) time.Duration
		ups    []time.Duration // how long each link lasted
		want   []time.Duration
	}{
		{name: "least jitter doubles to the cap", jitter: func(time.Duration) time.Duration { return 0 },
			ups:  []time.Duration{0, 0, 0, 0, 0, 0, 0, 0},
			want: []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 5000 * ms, 5000 * ms}},
		{name: "most jitter doubles to the cap", jitter: func(n time.Duration) time.Duration { return n },
			ups:  []time.Duration{0, 0, 0, 0, 0, 0, 0},
			want: []time.Duration{200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 6400 * ms, 10000 * ms}},
		{name: "a link that stayed up starts again from Min", jitter: func(n time.Duration) time.Duration { return n },
			ups:  []time.Duration{0, 0, 0, 10 * time.Second, 0},
			want: []time.Duration{200 * ms, 400 * ms, 800 * ms, 200 * ms, 400 * ms}},
		{name: "a short link does not reset", jitter: func(n time.Duration) time.Duration { return n },
			ups:  []time.Duration{0, 0, 9 * time.Second},
			want: []time.Duration{200 * ms, 400 * ms, 800 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := DefaultBackoff()
			b.Jitter = tt.jitter
			for i, up := range tt.ups {
				if got := b.Wait(up); got != tt.want[i] {
					t.Errorf("Wait(%v) #%d = %v, want %v", up, i, got, tt.want[i])
				}
			}
		})
	}
}

// TestBackoffJitterSpreads: real jitter keeps every wait in the upper half
// of its step and does not give every agent the same wait.
func TestBackoffJitterSpreads(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 50 {
		b := DefaultBackoff()
		b.Wait(0)
		got := b.Wait(0) // the 400 ms step
		if got < 200*time.Millisecond || got > 400*time.Millisecond {
			t.Fatalf("Wait(0) = %v, want within [200ms, 400ms]", got)
		}
		seen[got] = true
	}
	if len(seen) < 10 {
		t.Errorf("Wait(0) took %d distinct values in 50 draws, want jitter to spread them", len(seen))
	}
}
