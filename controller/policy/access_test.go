package policy

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// TestEvaluateAccess: a policy with approvers gives its app only while
// the input holds unexpired access for it; otherwise the reason says what
// to do (request, wait for the approvers, or request again after expiry),
// and the rest of the policy (posture here) still applies.
func TestEvaluateAccess(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	s := &Snapshot{
		Users:    map[string]api.User{"alice": {Name: "alice", Groups: []string{"eng"}}},
		Apps:     map[string]api.App{"db": {Name: "db"}, "wiki": {Name: "wiki"}},
		Profiles: map[string]api.PostureProfile{"fw": {Name: "fw", Firewall: true}},
		Policies: []api.Policy{
			{Name: "db-jit", Groups: []string{"eng"}, Apps: []string{"db"}, Approvers: "dba", PostureProfiles: []string{"fw"}},
			{Name: "wiki", Groups: []string{"eng"}, Apps: []string{"wiki"}},
		},
	}
	s.Compile()
	on, off := true, false
	fwOn := &api.PostureReport{Firewall: api.BoolFact{Known: true, Value: on}}
	fwOff := &api.PostureReport{Firewall: api.BoolFact{Known: true, Value: off}}
	until := now.Add(time.Hour)
	tests := []struct {
		name      string
		access    map[string]Access
		posture   *api.PostureReport
		app       string
		wantAllow bool
		wantCodes []string
		wantText  string
	}{
		{name: "no request", posture: fwOn, app: "db", wantCodes: []string{api.CodeAccessRequired}, wantText: "gatehouse request db"},
		{name: "pending", access: map[string]Access{"db": {Pending: true}}, posture: fwOn, app: "db",
			wantCodes: []string{api.CodeAccessPending}, wantText: "dba"},
		{name: "approved", access: map[string]Access{"db": {Until: until}}, posture: fwOn, app: "db", wantAllow: true,
			wantCodes: []string{api.CodePolicyAllow}},
		{name: "expired", access: map[string]Access{"db": {Until: now}}, posture: fwOn, app: "db",
			wantCodes: []string{api.CodeAccessExpired}, wantText: "expired at 2026-12-05T12:00:00Z"},
		{name: "denied", access: map[string]Access{"db": {Denied: "denied by user:bob: use the replica"}}, posture: fwOn, app: "db",
			wantCodes: []string{api.CodeAccessDenied}, wantText: "your request for db was denied by user:bob: use the replica"},
		{name: "asked again after a denial", access: map[string]Access{"db": {Denied: "denied by user:bob: no", Pending: true}}, posture: fwOn, app: "db",
			wantCodes: []string{api.CodeAccessPending}},
		{name: "approved but posture fails", access: map[string]Access{"db": {Until: until}}, posture: fwOff, app: "db",
			wantCodes: []string{api.CodePostureFirewall}},
		{name: "neither", posture: fwOff, app: "db", wantCodes: []string{api.CodePostureFirewall, api.CodeAccessRequired}},
		{name: "access for another app gives nothing", access: map[string]Access{"wiki": {Until: until}}, posture: fwOn, app: "db",
			wantCodes: []string{api.CodeAccessRequired}},
		{name: "a policy without approvers needs none", posture: fwOn, app: "wiki", wantAllow: true, wantCodes: []string{api.CodePolicyAllow}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := Input{Identity: s.Identity("alice"), Device: Device{State: DeviceApproved}, Posture: tt.posture, App: tt.app, Time: now, Access: tt.access}
			for _, d := range []api.Decision{s.Evaluate(in), s.DecideAll(in, []string{"wiki", tt.app})[1]} {
				if d.Allowed != tt.wantAllow || !slices.Equal(codes(d.Reasons), tt.wantCodes) {
					t.Fatalf("Evaluate(%s, %+v) = allowed %v %q, want %v %q", tt.app, tt.access, d.Allowed, codes(d.Reasons), tt.wantAllow, tt.wantCodes)
				}
				if tt.wantText != "" && !strings.Contains(d.Reasons[len(d.Reasons)-1].Message+" "+d.Reasons[len(d.Reasons)-1].Remediation, tt.wantText) {
					t.Errorf("reason %+v, want it to say %q", d.Reasons, tt.wantText)
				}
				if wantUntil := tt.wantAllow && tt.app == "db"; wantUntil != !d.AccessUntil.IsZero() || (wantUntil && !d.AccessUntil.Equal(until)) {
					t.Errorf("AccessUntil = %v, want %v", d.AccessUntil, wantUntil)
				}
			}
		})
	}
	if p, ok := s.ApprovalPolicy("alice", "db"); !ok || p.Name != "db-jit" {
		t.Errorf("ApprovalPolicy(alice, db) = %q %v, want db-jit", p.Name, ok)
	}
	for _, app := range []string{"wiki", "nope"} {
		if _, ok := s.ApprovalPolicy("alice", app); ok {
			t.Errorf("ApprovalPolicy(alice, %s) = ok, want none (no approval needed, or no app)", app)
		}
	}
}
