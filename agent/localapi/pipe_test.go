package localapi

import (
	"strings"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/agent/localpeer"
)

func TestPipeName(t *testing.T) {
	a, b := pipeName("/home/alice/.config/gatehouse"), pipeName("/home/bob/.config/gatehouse")
	if !strings.HasPrefix(a, PipePrefix+"gatehouse-agent-") || len(a) != len(PipePrefix+"gatehouse-agent-")+16 {
		t.Errorf("pipeName = %q, want %sgatehouse-agent- and 16 hex digits", a, PipePrefix)
	}
	if a == b {
		t.Errorf("pipeName of two state dirs = %q for both, want two pipes", a)
	}
	if got := pipeName("/home/alice/.config/gatehouse/"); got != a {
		t.Errorf("pipeName with a trailing slash = %q, want %q (the same dir)", got, a)
	}
	if got := pipeName("/HOME/Alice/.config/gatehouse"); got != a {
		t.Errorf("pipeName in other case = %q, want %q (Windows paths ignore case)", got, a)
	}
}

func TestPipeServerTrusted(t *testing.T) {
	const alice, mallory = "S-1-5-21-7-7-7-1001", "S-1-5-21-7-7-7-1666"
	tests := []struct {
		name  string
		owner string
		want  bool
	}{
		{"the service (SYSTEM)", localpeer.SIDSystem, true},
		{"an administrator", localpeer.SIDAdministrators, true},
		{"the caller's own agent", alice, true},
		{"another account squatting the name", mallory, false},
		{"no owner", "", false},
	}
	for _, tt := range tests {
		if got := pipeServerTrusted(tt.owner, alice); got != tt.want {
			t.Errorf("%s: pipeServerTrusted(%q, %q) = %v, want %v", tt.name, tt.owner, alice, got, tt.want)
		}
	}
}
