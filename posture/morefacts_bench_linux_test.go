package posture

import (
	"context"
	"testing"
)

// BenchmarkMoreSlowFacts is the cost of issue 8's slow facts on one
// refresh: screen lock, automatic updates (apt-config), days since update
// (dpkg.log) and the machine ID.
func BenchmarkMoreSlowFacts(b *testing.B) {
	ctx := context.Background()
	for b.Loop() {
		var f slowFacts
		collectMoreSlow(ctx, &f)
	}
}

// BenchmarkForbiddenSoftware is the cost of one forbidden-software check
// over every running process, after the first run hashed the executables
// (later runs hash only files that changed).
func BenchmarkForbiddenSoftware(b *testing.B) {
	ctx := context.Background()
	specs := []string{"/usr/bin/sleep", "sha256:" + "00000000000000000000000000000000000000000000000000000000000000ff"}
	forbiddenSoftware(ctx, specs)
	for b.Loop() {
		forbiddenSoftware(ctx, specs)
	}
}
