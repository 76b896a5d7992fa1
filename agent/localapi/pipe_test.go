package localapi

import (
	"strings"
	"testing"
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
