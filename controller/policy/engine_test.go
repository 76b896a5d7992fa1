package policy

import (
	"reflect"
	"slices"
	"strings"
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
	approved := Device{ID: "d1", State: DeviceApproved}
	tests := []struct {
		name        string
		in          Input
		wantAllowed bool
		wantCode    string
	}{
		{name: "store identity allowed", in: Input{Identity: s.Identity("bob"), Device: approved, App: "wiki", Time: now}, wantAllowed: true, wantCode: api.CodePolicyAllow},
		{name: "groups from the identity, not the store", in: Input{Identity: Identity{User: "carol", Groups: []string{"sales"}}, Device: approved, App: "wiki", Time: now},
			wantAllowed: true, wantCode: api.CodePolicyAllow},
		{name: "identity without the group", in: Input{Identity: Identity{User: "bob"}, Device: approved, App: "wiki", Time: now}, wantCode: api.CodePolicyNoMatch},
		{name: "unknown user with groups", in: Input{Identity: Identity{User: "zed", Groups: []string{"eng"}}, App: "wiki", Time: now}, wantCode: api.CodeUserUnknown},
		{name: "posture from the input", in: Input{Identity: s.Identity("alice"), Device: approved, Posture: goodLinux(), App: "grafana", Time: now},
			wantAllowed: true, wantCode: api.CodePolicyAllow},
		{name: "no posture fails closed", in: Input{Identity: s.Identity("alice"), Device: approved, App: "grafana", Time: now}, wantCode: api.CodePostureDiskEncryption},
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

// TestEvaluateIdentity: the engine decides in the order user.disabled,
// device.pending/device.blocked, an interactive device's session, then
// for each policy its sign-in needs (session.none, mfa.required,
// mfa.too_old, session.too_old) and then its posture; the first failing
// step is the reason, and its message ends with the fix.
func TestEvaluateIdentity(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	snap := &Snapshot{
		Users: map[string]api.User{"alice": {Name: "alice", Groups: []string{"eng"}}},
		Apps: map[string]api.App{
			"wiki": {Name: "wiki"}, "signin": {Name: "signin"}, "mfa": {Name: "mfa"}, "fresh": {Name: "fresh"}, "hard": {Name: "hard"},
		},
		Profiles: map[string]api.PostureProfile{"fw": {Name: "fw", Firewall: true}},
		Policies: []api.Policy{
			{Name: "open", Groups: []string{"eng"}, Apps: []string{"wiki"}},
			{Name: "signed-in", Groups: []string{"eng"}, Apps: []string{"signin"}, RequireSignIn: true},
			{Name: "mfa-12h", Groups: []string{"eng"}, Apps: []string{"mfa"}, RequireMFA: true, MFAMaxAge: api.Duration(12 * time.Hour)},
			{Name: "fresh-24h", Groups: []string{"eng"}, Apps: []string{"fresh"}, SessionMaxAge: api.Duration(24 * time.Hour)},
			{Name: "hard", Groups: []string{"eng"}, Apps: []string{"hard"}, RequireMFA: true, PostureProfiles: []string{"fw"}},
		},
	}
	fw := func(on bool) *api.PostureReport { return &api.PostureReport{Firewall: api.KnownBool(on)} }
	sess := func(auth, mfa time.Duration) *Session { // ages; mfa < 0: none
		s := &Session{Methods: []string{"pwd"}, AuthAt: now.Add(-auth)}
		if mfa >= 0 {
			s.Methods, s.MFAAt = []string{"pwd", "otp"}, now.Add(-mfa)
		}
		return s
	}
	approved := Device{ID: "d1", State: DeviceApproved}
	interactive := Device{ID: "d1", State: DeviceApproved, Interactive: true}
	alice := snap.Identity("alice")
	disabled := alice
	disabled.Disabled = true
	tests := []struct {
		name     string
		in       Input
		wantCode string
		wantFix  string   // the message's end
		wantAlso []string // the codes after wantCode (failing checks after a sign-in need)
	}{
		{name: "enrolled device, open policy", in: Input{Identity: alice, Device: approved, App: "wiki"}, wantCode: api.CodePolicyAllow},
		{name: "disabled user beats everything", in: Input{Identity: disabled, Device: Device{ID: "d1", State: DeviceBlocked}, Session: sess(0, 0), Posture: fw(true), App: "wiki"},
			wantCode: api.CodeUserDisabled, wantFix: "ask an admin to enable your account"},
		{name: "pending device", in: Input{Identity: alice, Device: Device{ID: "d1", State: DevicePending}, Session: sess(0, 0), App: "wiki"},
			wantCode: api.CodeDevicePending, wantFix: "ask an admin to approve it (gatehouse admin devices approve d1)"},
		{name: "unknown device state fails closed", in: Input{Identity: alice, Device: Device{ID: "d1"}, App: "wiki"},
			wantCode: api.CodeDevicePending, wantFix: "(gatehouse admin devices approve d1)"},
		{name: "blocked device", in: Input{Identity: alice, Device: Device{ID: "d1", State: DeviceBlocked}, Session: sess(0, 0), App: "wiki"},
			wantCode: api.CodeDeviceBlocked, wantFix: "ask an admin why, and to unblock it (gatehouse admin devices approve d1)"},
		{name: "interactive device without a session, open policy", in: Input{Identity: alice, Device: interactive, App: "wiki"},
			wantCode: api.CodeSignInRequired, wantFix: "sign in again: gatehouse login"},
		{name: "interactive device with a session, open policy", in: Input{Identity: alice, Device: interactive, Session: sess(time.Hour, -1), App: "wiki"},
			wantCode: api.CodePolicyAllow},
		{name: "enrolled device meets a sign-in policy", in: Input{Identity: alice, Device: approved, App: "signin"},
			wantCode: api.CodeSignInRequired, wantFix: "sign in again: gatehouse login"},
		{name: "sign-in policy, signed in", in: Input{Identity: alice, Device: interactive, Session: sess(time.Hour, -1), App: "signin"},
			wantCode: api.CodePolicyAllow},
		{name: "MFA policy, no session", in: Input{Identity: alice, Device: approved, App: "mfa"},
			wantCode: api.CodeSignInRequired, wantFix: "sign in again: gatehouse login"},
		{name: "MFA policy, password only", in: Input{Identity: alice, Device: interactive, Session: sess(time.Hour, -1), App: "mfa"},
			wantCode: api.CodeMFARequired, wantFix: "sign in again: gatehouse login with your authenticator or passkey"},
		{name: "MFA policy, MFA too old", in: Input{Identity: alice, Device: interactive, Session: sess(13*time.Hour, 13*time.Hour), App: "mfa"},
			wantCode: api.CodeMFATooOld, wantFix: "sign in again: gatehouse login"},
		{name: "MFA policy, MFA 11h ago", in: Input{Identity: alice, Device: interactive, Session: sess(11*time.Hour, 11*time.Hour), App: "mfa"},
			wantCode: api.CodePolicyAllow},
		{name: "session max age exceeded", in: Input{Identity: alice, Device: interactive, Session: sess(25*time.Hour, -1), App: "fresh"},
			wantCode: api.CodeSessionTooOld, wantFix: "sign in again: gatehouse login"},
		{name: "session within max age", in: Input{Identity: alice, Device: interactive, Session: sess(23*time.Hour, -1), App: "fresh"},
			wantCode: api.CodePolicyAllow},
		{name: "sign-in needs first, failing posture after", in: Input{Identity: alice, Device: interactive, Session: sess(time.Hour, -1), Posture: fw(false), App: "hard"},
			wantCode: api.CodeMFARequired, wantAlso: []string{api.CodePostureFirewall}},
		{name: "posture after sign-in needs", in: Input{Identity: alice, Device: interactive, Session: sess(time.Hour, 0), Posture: fw(false), App: "hard"},
			wantCode: api.CodePostureFirewall},
		{name: "everything passes", in: Input{Identity: alice, Device: interactive, Session: sess(time.Hour, 0), Posture: fw(true), App: "hard"},
			wantCode: api.CodePolicyAllow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Time = now
			d := snap.Evaluate(tt.in)
			got := codes(d.Reasons)
			if len(got) == 0 || got[0] != tt.wantCode || !slices.Equal(got[1:], tt.wantAlso) || d.Allowed != (tt.wantCode == api.CodePolicyAllow) {
				t.Fatalf("Evaluate(%s) = allowed %v, codes %q, want %q then %q", tt.name, d.Allowed, got, tt.wantCode, tt.wantAlso)
			}
			if r := d.Reasons[0]; tt.wantFix != "" && (!strings.HasSuffix(r.Message, tt.wantFix) || r.Remediation == "") {
				t.Errorf("Evaluate(%s) = message %q, remediation %q, want the message to end with %q", tt.name, r.Message, r.Remediation, tt.wantFix)
			}
			if all := snap.DecideAll(tt.in, []string{tt.in.App}); !reflect.DeepEqual(all[0], d) {
				t.Errorf("DecideAll(%s) = %+v, want Evaluate's %+v", tt.name, all[0], d)
			}
		})
	}
}
