package agent

import (
	"testing"

	"github.com/gatehouse-ztna/gatehouse/agent/localpeer"
)

func TestPipeCallerAllowed(t *testing.T) {
	const alice, bob, svc = "S-1-5-21-9-9-9-1001", "S-1-5-21-9-9-9-1002", "S-1-5-21-9-9-9-1003"
	tests := []struct {
		name   string
		caller localpeer.PipeCaller
		self   string
		want   bool
	}{
		{"the device's user", localpeer.PipeCaller{SID: alice}, localpeer.SIDSystem, true},
		{"another user", localpeer.PipeCaller{SID: bob}, localpeer.SIDSystem, false},
		{"an elevated administrator", localpeer.PipeCaller{SID: bob, Admin: true}, localpeer.SIDSystem, true},
		{"SYSTEM", localpeer.PipeCaller{SID: localpeer.SIDSystem}, alice, true},
		{"the agent's own account", localpeer.PipeCaller{SID: svc}, svc, true},
		{"no SID, even if self is empty", localpeer.PipeCaller{}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pipeCallerAllowed(tt.caller, alice, tt.self); got != tt.want {
				t.Errorf("pipeCallerAllowed(%+v, %q, %q) = %v, want %v", tt.caller, alice, tt.self, got, tt.want)
			}
		})
	}
}
