package policy

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// condSnapshot has one app, "wiki", and one policy for eng on it whose
// condition is cond, compiled.
func condSnapshot(cond string) *Snapshot {
	s := &Snapshot{
		Users:    map[string]api.User{"alice": {Name: "alice", Groups: []string{"eng"}}},
		Apps:     map[string]api.App{"wiki": {Name: "wiki"}},
		Policies: []api.Policy{{Name: "eng-wiki", Groups: []string{"eng"}, Apps: []string{"wiki"}, Condition: cond}},
	}
	s.Compile()
	return s
}

// TestCondition: a policy's condition reads the identity, the session,
// the device's posture and the request; false denies with
// policy.condition naming the policy and the expression, and a fact
// that is not known (no session, no posture, a fact the OS could not
// tell, a missing claim) denies as well: fail closed.
func TestCondition(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC) // 13:00 in Berlin
	approved := Device{ID: "d1", State: DeviceApproved, Tags: []string{"corp"}}
	alice := Identity{User: "alice", Groups: []string{"eng", "oncall"}, Claims: map[string]string{"department": "sre"}}
	mfa := func(age time.Duration) *Session {
		return &Session{Methods: []string{"pwd", "otp"}, AuthAt: now.Add(-2 * time.Hour), MFAAt: now.Add(-age)}
	}
	fw := func(f api.BoolFact) *api.PostureReport {
		p := goodLinux()
		p.Firewall = f
		return p
	}
	tests := []struct {
		name     string
		cond     string
		in       Input
		wantOK   bool
		wantText string // in the denial's message
	}{
		{name: "group member", cond: "'oncall' in user.groups", in: Input{Identity: alice}, wantOK: true},
		{name: "not a group member", cond: "'admins' in user.groups", in: Input{Identity: alice}, wantText: "is false"},
		{name: "claim", cond: "user.claims['department'] == 'sre'", in: Input{Identity: alice}, wantOK: true},
		{name: "missing claim fails closed", cond: "user.claims['cost_center'] != '42'", in: Input{Identity: alice}, wantText: "could not be evaluated"},
		{name: "MFA fresh", cond: "user.mfa_age_seconds < 3600", in: Input{Identity: alice, Session: mfa(10 * time.Minute)}, wantOK: true},
		{name: "MFA too old", cond: "user.mfa_age_seconds < 3600", in: Input{Identity: alice, Session: mfa(2 * time.Hour)}, wantText: "is false"},
		{name: "MFA age without a session fails closed", cond: "user.mfa_age_seconds < 3600", in: Input{Identity: alice}, wantText: "could not be evaluated"},
		{name: "MFA age without a second factor fails closed", cond: "user.mfa_age_seconds < 3600",
			in: Input{Identity: alice, Session: &Session{Methods: []string{"pwd"}, AuthAt: now}}, wantText: "could not be evaluated"},
		{name: "signed in", cond: "user.signed_in && user.session_age_seconds <= 7200", in: Input{Identity: alice, Session: mfa(time.Minute)}, wantOK: true},
		{name: "not signed in", cond: "user.signed_in", in: Input{Identity: alice}, wantText: "is false"},
		{name: "device fact on", cond: "device.facts.firewall && device.os == 'linux'", in: Input{Identity: alice, Posture: fw(api.KnownBool(true))}, wantOK: true},
		{name: "device fact off", cond: "device.facts.firewall", in: Input{Identity: alice, Posture: fw(api.KnownBool(false))}, wantText: "is false"},
		{name: "device fact unknown fails closed", cond: "device.facts.firewall", in: Input{Identity: alice, Posture: fw(api.BoolFact{Value: true})}, wantText: "could not be evaluated"},
		{name: "unknown fact negated still fails closed", cond: "!device.facts.firewall", in: Input{Identity: alice, Posture: fw(api.BoolFact{})}, wantText: "could not be evaluated"},
		{name: "no posture fails closed", cond: "device.facts.disk_encryption", in: Input{Identity: alice}, wantText: "could not be evaluated"},
		{name: "device process", cond: "device.processes['falcon-sensor']", in: Input{Identity: alice, Posture: goodLinux()}, wantOK: true},
		{name: "device version", cond: "device.kernel.startsWith('6.')", in: Input{Identity: alice, Posture: goodLinux()}, wantOK: true},
		{name: "device tag", cond: "'corp' in device.tags", in: Input{Identity: alice, Device: approved}, wantOK: true},
		{name: "office hours in Berlin", cond: "request.time.getHours('Europe/Berlin') >= 9 && request.time.getHours('Europe/Berlin') < 17", in: Input{Identity: alice}, wantOK: true},
		{name: "weekdays only (a Saturday)", cond: "request.time.getDayOfWeek('Europe/Berlin') in [1, 2, 3, 4, 5]", in: Input{Identity: alice}, wantText: "is false"},
		{name: "source network", cond: "request.source_ip.startsWith('10.')", in: Input{Identity: alice, SourceIP: "10.1.2.3"}, wantOK: true},
		{name: "source unknown fails closed", cond: "!request.source_ip.startsWith('192.')", in: Input{Identity: alice}, wantText: "could not be evaluated"},
		{name: "runtime error fails closed", cond: "int(user.claims['department']) > 0", in: Input{Identity: alice}, wantText: "could not be evaluated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.App, in.Time = "wiki", now
			if in.Device.ID == "" {
				in.Device = approved
			}
			d := condSnapshot(tt.cond).Evaluate(in)
			if d.Allowed != tt.wantOK {
				t.Fatalf("Evaluate with condition %q = allowed %v (%+v), want %v", tt.cond, d.Allowed, d.Reasons, tt.wantOK)
			}
			if tt.wantOK {
				return
			}
			if len(d.Reasons) != 1 || d.Reasons[0].Code != api.CodePolicyCondition {
				t.Fatalf("Evaluate with condition %q reasons = %+v, want one %q", tt.cond, d.Reasons, api.CodePolicyCondition)
			}
			r := d.Reasons[0]
			for _, want := range []string{`policy "eng-wiki"`, tt.cond, tt.wantText} {
				if !strings.Contains(r.Message, want) {
					t.Errorf("Evaluate with condition %q message = %q, want it to mention %q", tt.cond, r.Message, want)
				}
			}
			if r.Remediation == "" {
				t.Errorf("Evaluate with condition %q has no remediation", tt.cond)
			}
		})
	}
}

// TestConditionTimeWindowEdges: a time-window condition opens access at
// 09:00:00 Berlin time and closes it at 17:00:00, to the nanosecond, on
// the engine's injected clock (Input.Time), winter and summer time.
func TestConditionTimeWindowEdges(t *testing.T) {
	s := condSnapshot("request.time.getHours('Europe/Berlin') >= 9 && request.time.getHours('Europe/Berlin') < 17")
	in := Input{Identity: Identity{User: "alice", Groups: []string{"eng"}}, Device: Device{ID: "d1", State: DeviceApproved}, App: "wiki"}
	tests := []struct {
		name string
		at   time.Time
		want bool
	}{
		{name: "winter, just before opening", at: time.Date(2026, 12, 7, 7, 59, 59, 999_999_999, time.UTC), want: false},
		{name: "winter, opening", at: time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC), want: true},
		{name: "winter, just before closing", at: time.Date(2026, 12, 7, 15, 59, 59, 999_999_999, time.UTC), want: true},
		{name: "winter, closing", at: time.Date(2026, 12, 7, 16, 0, 0, 0, time.UTC), want: false},
		{name: "summer, just before opening", at: time.Date(2026, 7, 6, 6, 59, 59, 999_999_999, time.UTC), want: false},
		{name: "summer, opening", at: time.Date(2026, 7, 6, 7, 0, 0, 0, time.UTC), want: true},
		{name: "summer, closing", at: time.Date(2026, 7, 6, 15, 0, 0, 0, time.UTC), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in.Time = tt.at
			if d := s.Evaluate(in); d.Allowed != tt.want {
				t.Errorf("Evaluate at %v = allowed %v (%+v), want %v", tt.at, d.Allowed, d.Reasons, tt.want)
			}
		})
	}
}

// TestConditionNotCompiledFailsClosed: a snapshot whose conditions were
// never compiled, or compiled before a policy's condition changed, or
// holding a condition that does not compile, denies.
func TestConditionNotCompiledFailsClosed(t *testing.T) {
	in := Input{Identity: Identity{User: "alice", Groups: []string{"eng"}}, Device: Device{ID: "d1", State: DeviceApproved}, App: "wiki", Time: time.Now()}
	raw := condSnapshot("")
	raw.Policies[0].Condition = "true"
	stale := condSnapshot("false")
	stale.Policies[0].Condition = "true"
	broken := condSnapshot("true &&")
	for name, s := range map[string]*Snapshot{"never compiled": raw, "stale": stale, "does not compile": broken} {
		if d := s.Evaluate(in); d.Allowed || !slices.Contains(codes(d.Reasons), api.CodePolicyCondition) {
			t.Errorf("Evaluate on a snapshot whose condition %s = allowed %v %+v, want denied with %q", name, d.Allowed, d.Reasons, api.CodePolicyCondition)
		}
	}
}

// TestConditionCostLimit: a condition that would spend too much is
// stopped and denies.
func TestConditionCostLimit(t *testing.T) {
	groups := make([]string, 20_000)
	for i := range groups {
		groups[i] = "g" + strings.Repeat("x", i%7)
	}
	s := condSnapshot("user.groups.all(a, user.groups.exists(b, a == b + 'y'))")
	d := s.Evaluate(Input{Identity: Identity{User: "alice", Groups: append(groups, "eng")}, Device: Device{ID: "d1", State: DeviceApproved}, App: "wiki", Time: time.Now()})
	if d.Allowed || len(d.Reasons) != 1 || !strings.Contains(d.Reasons[0].Message, "cost limit") {
		t.Errorf("Evaluate of a costly condition = allowed %v %+v, want denied for its cost limit", d.Allowed, d.Reasons)
	}
}

func TestCheckCondition(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr []string // parts of the error; none: valid
	}{
		{name: "none", in: ""},
		{name: "time window", in: "request.time.getHours('Europe/Berlin') >= 9 && request.time.getHours('Europe/Berlin') < 17"},
		{name: "syntax error on line 2", in: "'eng' in user.groups &&\n  (", wantErr: []string{"<input>:2:"}},
		{name: "unknown attribute", in: "device.colour == 'red'", wantErr: []string{"<input>:1:1", "undeclared reference"}},
		{name: "wrong type", in: "user.groups == 'eng'", wantErr: []string{"<input>:1:", "no matching overload"}},
		{name: "not a bool", in: "user.name", wantErr: []string{"must give a bool"}},
		{name: "dyn is not a bool", in: "dyn(true)", wantErr: []string{"must give a bool"}},
		{name: "too long", in: "true" + strings.Repeat(" ", MaxConditionLen), wantErr: []string{"at most 2048"}},
		{name: "control character", in: "user.name == '\x1b[2J'", wantErr: []string{"control character"}},
		{name: "too deep", in: strings.Repeat("(", 100) + "true" + strings.Repeat(")", 100), wantErr: []string{"recursion"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckCondition(tt.in)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Errorf("CheckCondition(%q) = %v, want nil", tt.in, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckCondition(%q) = nil, want an error mentioning %q", tt.in, tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("CheckCondition(%q) = %q, want it to mention %q", tt.in, err, w)
				}
			}
		})
	}
}

// TestZonedAccessors: the cached-zone accessors give what CEL's own give
// (the examples of CEL's documentation, and fixed offsets); a zone that
// does not exist fails closed.
func TestZonedAccessors(t *testing.T) {
	in := Input{Identity: Identity{User: "alice", Groups: []string{"eng"}}, Device: Device{ID: "d1", State: DeviceApproved}, App: "wiki",
		Time: time.Date(2023, 7, 14, 10, 30, 45, 123_000_000, time.UTC)}
	tests := []struct {
		in   string
		want bool
	}{
		{in: "request.time.getHours('America/Los_Angeles') == 3", want: true},
		{in: "request.time.getHours('+02:00') == 12 && request.time.getMinutes('-05:30') == 0 && request.time.getHours('-05:30') == 5", want: true},
		{in: "request.time.getDayOfWeek('Pacific/Kiritimati') == 6 && request.time.getDayOfWeek('UTC') == 5", want: true},
		{in: "request.time.getFullYear('Europe/Berlin') == 2023 && request.time.getMonth('Europe/Berlin') == 6", want: true},
		{in: "request.time.getDate('Europe/Berlin') == 14 && request.time.getDayOfMonth('Europe/Berlin') == 13", want: true},
		{in: "request.time.getDayOfYear('Europe/Berlin') == 194 && request.time.getSeconds('Asia/Kolkata') == 45", want: true},
		{in: "request.time.getMilliseconds('Asia/Kolkata') == 123 && request.time.getMinutes('Asia/Kolkata') == 0", want: true},
		{in: "request.time.getHours('Mars/Olympus_Mons') >= 0", want: false},
		{in: "request.time.getHours('+25:00') >= 0", want: false},
	}
	for _, tt := range tests {
		if d := condSnapshot(tt.in).Evaluate(in); d.Allowed != tt.want {
			t.Errorf("Evaluate with condition %q = allowed %v (%+v), want %v", tt.in, d.Allowed, d.Reasons, tt.want)
		}
	}
}
