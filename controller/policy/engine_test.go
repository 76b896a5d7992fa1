package policy

import (
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// TestEvaluate: the Engine's one input decides; the identity's groups are
// what policies match (an IdP's groups count as given), the user must
// still exist, and posture and app come from the input.
func TestEvaluate(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s := testSnapshot()
	tests := []struct {
		name        string
		in          Input
		wantAllowed bool
		wantCode    string
	}{
		{name: "store identity allowed", in: Input{Identity: s.Identity("bob"), App: "wiki", Time: now}, wantAllowed: true, wantCode: api.CodePolicyAllow},
		{name: "groups from the identity, not the store", in: Input{Identity: Identity{User: "carol", Groups: []string{"sales"}}, App: "wiki", Time: now},
			wantAllowed: true, wantCode: api.CodePolicyAllow},
		{name: "identity without the group", in: Input{Identity: Identity{User: "bob"}, App: "wiki", Time: now}, wantCode: api.CodePolicyNoMatch},
		{name: "unknown user with groups", in: Input{Identity: Identity{User: "zed", Groups: []string{"eng"}}, App: "wiki", Time: now}, wantCode: api.CodeUserUnknown},
		{name: "posture from the input", in: Input{Identity: s.Identity("alice"), Device: Device{ID: "d1"}, Posture: goodLinux(), App: "grafana", Time: now},
			wantAllowed: true, wantCode: api.CodePolicyAllow},
		{name: "no posture fails closed", in: Input{Identity: s.Identity("alice"), Device: Device{ID: "d1"}, App: "grafana", Time: now}, wantCode: api.CodePostureDiskEncryption},
		{name: "unknown app", in: Input{Identity: s.Identity("alice"), App: "nope", Time: now}, wantCode: api.CodeAppUnknown},
	}
	var e Engine = s
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := e.Evaluate(tt.in)
			if d.Allowed != tt.wantAllowed || !slices.Contains(codes(d.Reasons), tt.wantCode) || !d.EvaluatedAt.Equal(now) {
				t.Errorf("Evaluate(%+v) = allowed %v, codes %q at %v, want allowed %v with %q at %v",
					tt.in.Identity, d.Allowed, codes(d.Reasons), d.EvaluatedAt, tt.wantAllowed, tt.wantCode, now)
			}
		})
	}
}
