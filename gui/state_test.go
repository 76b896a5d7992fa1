package gui

import (
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/api"
)

var (
	firewallOff = api.Reason{Code: api.CodePostureFirewall, Message: "the firewall is off", Remediation: "Turn on the firewall: sudo ufw enable"}
	until       = time.Date(2026, 12, 5, 18, 0, 0, 0, time.UTC)
)

func TestFromAgent(t *testing.T) {
	signedIn := localapi.Status{Connected: true, Session: localapi.Session{SignedIn: true, User: "alice"}}
	tests := []struct {
		name    string
		status  localapi.Status
		apps    []localapi.App
		posture localapi.Posture
		login   localapi.Login
		agentUp bool
		want    State
	}{
		{
			name:    "agent down ignores the rest",
			status:  signedIn,
			apps:    []localapi.App{{Name: "grafana", Allowed: true}},
			agentUp: false,
			want:    State{},
		},
		{
			name:    "signed in, connected, apps allowed blocked and just in time",
			status:  signedIn,
			agentUp: true,
			apps: []localapi.App{
				{Name: "grafana", Allowed: true, LocalAddrs: []string{"127.0.0.1:8001"}, TunnelUp: true},
				{Name: "db", Reasons: []api.Reason{firewallOff}, LocalAddrs: []string{"127.0.0.1:8002"}},
				{Name: "wiki", Reasons: []api.Reason{{Code: api.CodeAccessPending, Message: "your request waits"}}},
				{Name: "prod", Allowed: true, AccessUntil: until},
				{Name: "ops", Reasons: []api.Reason{{Code: api.CodeAccessDenied, Message: "denied by bob"}}},
				{Name: "old", Reasons: []api.Reason{{Code: api.CodeAccessExpired, Message: "ran out"}}},
				{Name: "new", Reasons: []api.Reason{{Code: api.CodeAccessRequired, Message: "ask first"}}},
			},
			want: State{AgentUp: true, Connected: true, SignIn: SignIn{Step: SignedIn, User: "alice"}, Apps: []App{
				{Name: "grafana", Allowed: true, Addresses: []string{"127.0.0.1:8001"}, TunnelUp: true},
				{Name: "db", Addresses: []string{"127.0.0.1:8002"}, Reasons: []Reason{{Code: api.CodePostureFirewall, Text: "the firewall is off", Fix: "Turn on the firewall: sudo ufw enable"}}},
				{Name: "wiki", Access: AccessPending, Reasons: []Reason{{Code: api.CodeAccessPending, Text: "your request waits"}}},
				{Name: "prod", Allowed: true, Access: AccessApproved, Until: until},
				{Name: "ops", Access: AccessDenied, Reasons: []Reason{{Code: api.CodeAccessDenied, Text: "denied by bob"}}},
				{Name: "old", Access: AccessExpired, Reasons: []Reason{{Code: api.CodeAccessExpired, Text: "ran out"}}},
				{Name: "new", Access: AccessRequired, Reasons: []Reason{{Code: api.CodeAccessRequired, Text: "ask first"}}},
			}},
		},
		{
			name:    "posture of one profile: check names alone; a pass carries no fix",
			status:  signedIn,
			agentUp: true,
			posture: localapi.Posture{Checks: []api.CheckResult{
				{Profile: "base", Check: "firewall", Status: api.CheckFail, Reason: firewallOff},
				{Profile: "base", Check: "disk_encryption", Status: api.CheckPass, Reason: api.Reason{Message: "disk encryption is on", Remediation: "Turn on disk encryption"}},
				{Profile: "base", Check: "screen_lock", Status: api.CheckUnknown, Reason: api.Reason{Message: "the state of screen lock is unknown", Remediation: "Turn on the screen lock"}},
				{Profile: "base", Check: "secure_boot", Status: api.CheckWaived, WaivedUntil: until, Reason: api.Reason{Message: "secure boot is off", Remediation: "Turn on secure boot"}},
				{Profile: "base", Check: "future", Status: "sideways", Reason: api.Reason{Message: "?"}},
			}},
			want: State{AgentUp: true, Connected: true, SignIn: SignIn{Step: SignedIn, User: "alice"}, Posture: []Check{
				{Name: "firewall", Status: CheckFail, Fact: "the firewall is off", Fix: "Turn on the firewall: sudo ufw enable"},
				{Name: "disk_encryption", Status: CheckPass, Fact: "disk encryption is on"},
				{Name: "screen_lock", Status: CheckUnknown, Fact: "the state of screen lock is unknown", Fix: "Turn on the screen lock"},
				{Name: "secure_boot", Status: CheckWaived, Fact: "secure boot is off", Fix: "Turn on secure boot", WaivedUntil: until},
				{Name: "future", Status: CheckUnknown, Fact: "?"},
			}},
		},
		{
			name:    "posture of two profiles: names carry the profile",
			status:  signedIn,
			agentUp: true,
			posture: localapi.Posture{Checks: []api.CheckResult{
				{Profile: "base", Check: "firewall", Status: api.CheckPass, Reason: api.Reason{Message: "the firewall is on"}},
				{Profile: "strict", Check: "firewall", Status: api.CheckPass, Reason: api.Reason{Message: "the firewall is on"}},
			}},
			want: State{AgentUp: true, Connected: true, SignIn: SignIn{Step: SignedIn, User: "alice"}, Posture: []Check{
				{Name: "base: firewall", Status: CheckPass, Fact: "the firewall is on"},
				{Name: "strict: firewall", Status: CheckPass, Fact: "the firewall is on"},
			}},
		},
		{
			name:    "sign-in pending: the page with the code in it is preferred",
			status:  localapi.Status{Connected: true, LastError: ""},
			agentUp: true,
			login:   localapi.Login{State: localapi.LoginPending, VerificationURI: "https://c/device", VerificationURIComplete: "https://c/device?code=ABCD-EFGH", UserCode: "ABCD-EFGH"},
			want:    State{AgentUp: true, Connected: true, SignIn: SignIn{Step: SignInPending, URL: "https://c/device?code=ABCD-EFGH", Code: "ABCD-EFGH"}},
		},
		{
			name:    "sign-in pending without a complete page",
			agentUp: true,
			login:   localapi.Login{State: localapi.LoginPending, VerificationURI: "https://c/device", UserCode: "WXYZ"},
			want:    State{AgentUp: true, SignIn: SignIn{Step: SignInPending, URL: "https://c/device", Code: "WXYZ"}},
		},
		{
			name:    "sign-in failed",
			agentUp: true,
			login:   localapi.Login{State: localapi.LoginFailed, Error: "the code expired: sign in again"},
			want:    State{AgentUp: true, SignIn: SignIn{Step: SignedOut, Ended: "sign-in failed: the code expired: sign in again"}},
		},
		{
			name:    "session ended, not connected",
			status:  localapi.Status{LastError: "controller unreachable", Session: localapi.Session{Ended: &api.Reason{Code: api.CodeSessionRevoked, Message: "an admin ended your session", Remediation: "sign in again"}}},
			agentUp: true,
			want:    State{AgentUp: true, Problem: "controller unreachable", SignIn: SignIn{Step: SignedOut, Ended: "an admin ended your session (sign in again)"}},
		},
		{
			name:    "a signed-in session wins over a stale login",
			status:  signedIn,
			agentUp: true,
			login:   localapi.Login{State: localapi.LoginPending, UserCode: "OLD"},
			want:    State{AgentUp: true, Connected: true, SignIn: SignIn{Step: SignedIn, User: "alice"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FromAgent(tt.status, tt.apps, tt.posture, tt.login, tt.agentUp)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("FromAgent() =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestLookAndStatusLine(t *testing.T) {
	alice := SignIn{Step: SignedIn, User: "alice"}
	grafana := App{Name: "grafana", Allowed: true}
	db := App{Name: "db", Reasons: []Reason{{Code: api.CodePostureFirewall, Text: "the firewall is off"}}}
	jit := App{Name: "wiki", Access: AccessRequired, Reasons: []Reason{{Code: api.CodeAccessRequired, Text: "ask first"}}}
	tests := []struct {
		name     string
		in       State
		wantLook Look
		wantLine string
	}{
		{"agent down", State{}, LookAgentDown, "Gatehouse agent is not running: start it (gatehouse service start)"},
		{"signed out", State{AgentUp: true, Connected: true}, LookSignedOut, "Signed out: choose Sign in"},
		{"signed out with a reason", State{AgentUp: true, SignIn: SignIn{Ended: "your session expired (sign in again)"}}, LookSignedOut, "Signed out: your session expired (sign in again)"},
		{"sign-in pending", State{AgentUp: true, SignIn: SignIn{Step: SignInPending, Code: "ABCD"}}, LookSignedOut, "Signing in: enter code ABCD in your browser"},
		{"not connected", State{AgentUp: true, SignIn: alice, Problem: "dial: refused"}, LookBlocked, "Signed in as alice, not connected to the controller: dial: refused"},
		{"blocked by posture", State{AgentUp: true, Connected: true, SignIn: alice, Apps: []App{grafana, db}}, LookBlocked, "alice: 1 of 2 apps blocked by posture (see Posture…)"},
		{"a check fails, no app blocked", State{AgentUp: true, Connected: true, SignIn: alice, Apps: []App{grafana}, Posture: []Check{{Name: "x", Status: CheckUnknown}}}, LookBlocked, "alice: 1 of 1 posture checks do not pass (see Posture…)"},
		{"no sign-in needed: served as the device's user", State{AgentUp: true, Connected: true, DeviceUser: "alice", Apps: []App{grafana}}, LookOK, "Connected as alice: all checks pass"},
		{"no sign-in, blocked by posture", State{AgentUp: true, Connected: true, DeviceUser: "alice", Apps: []App{grafana, db}}, LookBlocked, "alice: 1 of 2 apps blocked by posture (see Posture…)"},
		{"an app needs a sign-in", State{AgentUp: true, Connected: true, DeviceUser: "alice", Apps: []App{grafana, {Name: "wiki", Reasons: []Reason{{Code: api.CodeSignInRequired}}}}}, LookSignedOut, "Signed out: choose Sign in"},
		{"all fine; a just-in-time app waiting is no posture problem", State{AgentUp: true, Connected: true, SignIn: alice, Apps: []App{grafana, jit}, Posture: []Check{{Name: "x", Status: CheckPass}, {Name: "y", Status: CheckWaived}}}, LookOK, "Connected as alice: all checks pass"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.Look(); got != tt.wantLook {
				t.Errorf("Look() = %v, want %v", got, tt.wantLook)
			}
			if got := tt.in.StatusLine(); got != tt.wantLine {
				t.Errorf("StatusLine() = %q, want %q", got, tt.wantLine)
			}
		})
	}
}

func TestIconsDiffer(t *testing.T) {
	seen := map[string]Look{}
	for _, l := range []Look{LookAgentDown, LookSignedOut, LookBlocked, LookOK} {
		icon := Icon(l)
		if len(icon.Content()) < 100 {
			t.Fatalf("Icon(%v) has %d bytes: no image drawn", l, len(icon.Content()))
		}
		if other, dup := seen[string(icon.Content())]; dup {
			t.Errorf("Icon(%v) is the same picture as Icon(%v)", l, other)
		}
		seen[string(icon.Content())] = l
	}
}
