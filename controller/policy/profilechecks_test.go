package policy

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

const testSum = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// runCheck runs the one check of prof named name on p.
func runCheck(t *testing.T, prof api.PostureProfile, name string, p *api.PostureReport) api.CheckResult {
	t.Helper()
	for _, c := range checksOf(prof) {
		if c.name == name {
			r := c.run(p)
			if r.Check != name {
				t.Fatalf("check %q reports its name as %q", name, r.Check)
			}
			return r
		}
	}
	t.Fatalf("profile %+v has no check %q", prof, name)
	return api.CheckResult{}
}

func mac(f func(p *api.PostureReport)) *api.PostureReport {
	p := &api.PostureReport{OSFamily: api.KnownString("darwin"), OSName: api.KnownString("macos"), OSVersion: api.KnownString("14.4.1")}
	f(p)
	return p
}

func windows(f func(p *api.PostureReport)) *api.PostureReport {
	p := &api.PostureReport{OSFamily: api.KnownString("windows"), OSName: api.KnownString("windows"), OSVersion: api.KnownString("10.0.22631")}
	f(p)
	return p
}

// TestTypedChecks: each newer typed check passes only on a known good
// fact, fails on a bad one and is unknown on an unknown one, with its
// code and a remediation worded for the device's OS.
func TestTypedChecks(t *testing.T) {
	keep := func(*api.PostureReport) {}
	tests := []struct {
		name       string
		prof       api.PostureProfile
		check      string
		in         *api.PostureReport
		want       string // status
		wantCode   string
		wantRemedy string // in the remediation
		wantMsg    string // in the message
	}{
		{name: "os version: os_name key wins", prof: api.PostureProfile{MinOSVersions: map[string]string{"linux": "1", "debian": "13"}},
			check: "min_os_versions", in: with(func(p *api.PostureReport) { p.OSName = api.KnownString("debian") }),
			want: api.CheckFail, wantCode: api.CodePostureMinOSVersions, wantRemedy: "Upgrade debian to version 13", wantMsg: "debian 12.5 is older than 13"},
		{name: "os version: family key", prof: api.PostureProfile{MinOSVersions: map[string]string{"linux": "12.4", "darwin": "15"}},
			check: "min_os_versions", in: goodLinux(), want: api.CheckPass},
		{name: "os version: macOS too old", prof: api.PostureProfile{MinOSVersions: map[string]string{"linux": "12.4", "darwin": "14.5"}},
			check: "min_os_versions", in: mac(keep), want: api.CheckFail, wantRemedy: "Update macOS to 14.5 or newer (System Settings"},
		{name: "os version: platform without key is not held", prof: api.PostureProfile{MinOSVersions: map[string]string{"windows": "10.0.22000"}},
			check: "min_os_versions", in: mac(keep), want: api.CheckPass, wantMsg: "no minimum"},
		{name: "os version: unknown version", prof: api.PostureProfile{MinOSVersions: map[string]string{"darwin": "14"}},
			check: "min_os_versions", in: mac(func(p *api.PostureReport) { p.OSVersion = api.StringFact{} }), want: api.CheckUnknown},
		{name: "os version: unknown name while a name key exists", prof: api.PostureProfile{MinOSVersions: map[string]string{"ubuntu": "22.04"}},
			check: "min_os_versions", in: goodLinux(), want: api.CheckUnknown},
		{name: "os version: unknown family", prof: api.PostureProfile{MinOSVersions: map[string]string{"linux": "1"}},
			check: "min_os_versions", in: &api.PostureReport{}, want: api.CheckUnknown},
		{name: "screen lock on", prof: api.PostureProfile{ScreenLock: true}, check: "screen_lock",
			in: with(func(p *api.PostureReport) { p.ScreenLock = api.KnownBool(true) }), want: api.CheckPass},
		{name: "screen lock off on a Mac", prof: api.PostureProfile{ScreenLock: true}, check: "screen_lock",
			in: mac(func(p *api.PostureReport) { p.ScreenLock = api.KnownBool(false) }), want: api.CheckFail,
			wantCode: api.CodePostureScreenLock, wantRemedy: "System Settings > Lock Screen"},
		{name: "screen lock unknown", prof: api.PostureProfile{ScreenLock: true}, check: "screen_lock", in: goodLinux(), want: api.CheckUnknown},
		{name: "secure boot off", prof: api.PostureProfile{SecureBoot: true}, check: "secure_boot",
			in: with(func(p *api.PostureReport) { p.SecureBoot = api.KnownBool(false) }), want: api.CheckFail,
			wantCode: api.CodePostureSecureBoot, wantRemedy: "firmware (UEFI)"},
		{name: "auto updates off on Linux", prof: api.PostureProfile{AutoUpdates: true}, check: "auto_updates",
			in: with(func(p *api.PostureReport) { p.AutoUpdates = api.KnownBool(false) }), want: api.CheckFail,
			wantCode: api.CodePostureAutoUpdates, wantRemedy: "unattended-upgrades"},
		{name: "auto updates off on Windows", prof: api.PostureProfile{AutoUpdates: true}, check: "auto_updates",
			in: windows(func(p *api.PostureReport) { p.AutoUpdates = api.KnownBool(false) }), want: api.CheckFail, wantRemedy: "Windows Update"},
		{name: "updated recently", prof: api.PostureProfile{MaxDaysSinceUpdate: 14}, check: "max_days_since_update",
			in: with(func(p *api.PostureReport) { p.DaysSinceUpdate = api.KnownInt(14) }), want: api.CheckPass},
		{name: "not updated for too long", prof: api.PostureProfile{MaxDaysSinceUpdate: 14}, check: "max_days_since_update",
			in: with(func(p *api.PostureReport) { p.DaysSinceUpdate = api.KnownInt(15) }), want: api.CheckFail,
			wantCode: api.CodePostureDaysSinceUpdate, wantRemedy: "apt upgrade", wantMsg: "15 days ago"},
		{name: "days since update unknown", prof: api.PostureProfile{MaxDaysSinceUpdate: 14}, check: "max_days_since_update",
			in: goodLinux(), want: api.CheckUnknown},
		{name: "agent new enough", prof: api.PostureProfile{MinAgentVersion: "1.4"}, check: "min_agent_version",
			in: with(func(p *api.PostureReport) { p.AgentVersion = "v1.4.2" }), want: api.CheckPass},
		{name: "agent too old", prof: api.PostureProfile{MinAgentVersion: "1.4"}, check: "min_agent_version",
			in: with(func(p *api.PostureReport) { p.AgentVersion = "1.3.9" }), want: api.CheckFail,
			wantCode: api.CodePostureMinAgentVersion, wantRemedy: "Update the Gatehouse agent to 1.4", wantMsg: "older than 1.4"},
		{name: "dev agent fails", prof: api.PostureProfile{MinAgentVersion: "1.4"}, check: "min_agent_version",
			in: with(func(p *api.PostureReport) { p.AgentVersion = "dev" }), want: api.CheckFail, wantMsg: "development build"},
		{name: "unparsable agent fails", prof: api.PostureProfile{MinAgentVersion: "1.4"}, check: "min_agent_version",
			in: with(func(p *api.PostureReport) { p.AgentVersion = "banana" }), want: api.CheckFail, wantMsg: "not a release version"},
		{name: "agent without a version", prof: api.PostureProfile{MinAgentVersion: "1.4"}, check: "min_agent_version",
			in: goodLinux(), want: api.CheckUnknown},
		{name: "forbidden not running", prof: api.PostureProfile{ForbiddenSoftware: []string{"/usr/bin/nc"}}, check: "forbidden:/usr/bin/nc",
			in: with(func(p *api.PostureReport) { p.Forbidden = map[string]api.BoolFact{"/usr/bin/nc": api.KnownBool(false)} }), want: api.CheckPass},
		{name: "forbidden running", prof: api.PostureProfile{ForbiddenSoftware: []string{"/usr/bin/nc"}}, check: "forbidden:/usr/bin/nc",
			in: with(func(p *api.PostureReport) { p.Forbidden = map[string]api.BoolFact{"/usr/bin/nc": api.KnownBool(true)} }), want: api.CheckFail,
			wantCode: api.CodePostureForbiddenPrefix + "/usr/bin/nc", wantRemedy: "Quit /usr/bin/nc and uninstall it"},
		{name: "forbidden not reported is unknown", prof: api.PostureProfile{ForbiddenSoftware: []string{"/usr/bin/nc"}}, check: "forbidden:/usr/bin/nc",
			in: goodLinux(), want: api.CheckUnknown},
		{name: "file present", prof: api.PostureProfile{RequiredFiles: []string{"/etc/corp/ca.pem:" + testSum}}, check: "file:/etc/corp/ca.pem:" + testSum,
			in: with(func(p *api.PostureReport) {
				p.Files = map[string]api.BoolFact{"/etc/corp/ca.pem:" + testSum: api.KnownBool(true)}
			}), want: api.CheckPass},
		{name: "file differs", prof: api.PostureProfile{RequiredFiles: []string{"/etc/corp/ca.pem:" + testSum}}, check: "file:/etc/corp/ca.pem:" + testSum,
			in: with(func(p *api.PostureReport) {
				p.Files = map[string]api.BoolFact{"/etc/corp/ca.pem:" + testSum: api.KnownBool(false)}
			}), want: api.CheckFail, wantCode: api.CodePostureFilePrefix + "/etc/corp/ca.pem:" + testSum, wantRemedy: "Install the version of /etc/corp/ca.pem",
			wantMsg: "missing or its contents differ"},
		{name: "file unknown", prof: api.PostureProfile{RequiredFiles: []string{"/etc/corp/ca.pem"}}, check: "file:/etc/corp/ca.pem",
			in: goodLinux(), want: api.CheckUnknown},
		{name: "SIP off", prof: api.PostureProfile{SIP: true}, check: "sip",
			in: mac(func(p *api.PostureReport) { p.SIP = api.KnownBool(false) }), want: api.CheckFail, wantCode: api.CodePostureSIP, wantRemedy: "csrutil enable"},
		{name: "SIP on", prof: api.PostureProfile{SIP: true}, check: "sip", in: mac(func(p *api.PostureReport) { p.SIP = api.KnownBool(true) }), want: api.CheckPass},
		{name: "SIP does not apply to Linux", prof: api.PostureProfile{SIP: true}, check: "sip", in: goodLinux(), want: api.CheckPass, wantMsg: "does not apply"},
		{name: "SIP with the OS unknown", prof: api.PostureProfile{SIP: true}, check: "sip", in: &api.PostureReport{SIP: api.KnownBool(true)}, want: api.CheckUnknown},
		{name: "Gatekeeper off", prof: api.PostureProfile{Gatekeeper: true}, check: "gatekeeper",
			in: mac(func(p *api.PostureReport) { p.Gatekeeper = api.KnownBool(false) }), want: api.CheckFail, wantCode: api.CodePostureGatekeeper, wantRemedy: "spctl"},
		{name: "Gatekeeper unknown on a Mac", prof: api.PostureProfile{Gatekeeper: true}, check: "gatekeeper", in: mac(keep), want: api.CheckUnknown},
		{name: "antivirus off", prof: api.PostureProfile{Antivirus: true}, check: "antivirus",
			in: windows(func(p *api.PostureReport) { p.Antivirus = api.KnownBool(false) }), want: api.CheckFail, wantCode: api.CodePostureAntivirus, wantRemedy: "Defender"},
		{name: "domain joined", prof: api.PostureProfile{DomainJoined: true}, check: "domain_joined",
			in: windows(func(p *api.PostureReport) {
				p.DomainJoined, p.Domain = api.KnownBool(true), api.KnownString("corp.example")
			}),
			want: api.CheckPass, wantMsg: "corp.example"},
		{name: "not domain joined", prof: api.PostureProfile{DomainJoined: true}, check: "domain_joined",
			in: windows(func(p *api.PostureReport) { p.DomainJoined = api.KnownBool(false) }), want: api.CheckFail, wantCode: api.CodePostureDomainJoined},
		{name: "disk encryption off on a Mac says FileVault", prof: api.PostureProfile{DiskEncryption: true}, check: "disk_encryption",
			in: mac(func(p *api.PostureReport) { p.DiskEncryption = api.KnownBool(false) }), want: api.CheckFail, wantRemedy: "Turn on FileVault"},
		{name: "no posture", prof: api.PostureProfile{ScreenLock: true}, check: "screen_lock", in: nil, want: api.CheckUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCheck(t, tt.prof, tt.check, tt.in)
			if r.Status != tt.want {
				t.Fatalf("%s on %s = %q (%s), want %q", tt.check, tt.name, r.Status, r.Reason.Message, tt.want)
			}
			if r.Reason.Message == "" || r.Reason.Remediation == "" || !strings.HasPrefix(r.Reason.Code, "posture.") {
				t.Errorf("%s reason = %+v, want a posture code, a message and a remediation", tt.check, r.Reason)
			}
			if tt.wantCode != "" && r.Reason.Code != tt.wantCode {
				t.Errorf("%s code = %q, want %q", tt.check, r.Reason.Code, tt.wantCode)
			}
			if !strings.Contains(r.Reason.Remediation, tt.wantRemedy) {
				t.Errorf("%s remediation = %q, want it to mention %q", tt.check, r.Reason.Remediation, tt.wantRemedy)
			}
			if !strings.Contains(r.Reason.Message, tt.wantMsg) {
				t.Errorf("%s message = %q, want it to mention %q", tt.check, r.Reason.Message, tt.wantMsg)
			}
		})
	}
}

// TestTypedChecksDeny: a failing newer check denies the app with its
// code, and the profile's checks come in a stable order.
func TestTypedChecksDeny(t *testing.T) {
	prof := api.PostureProfile{Name: "strict", ScreenLock: true, SecureBoot: true, AutoUpdates: true, MaxDaysSinceUpdate: 30,
		MinAgentVersion: "1.0", ForbiddenSoftware: []string{"/usr/bin/nc"}, RequiredFiles: []string{"/etc/corp/ca.pem"},
		MinOSVersions: map[string]string{"linux": "12"}, SIP: true, Gatekeeper: true, Antivirus: true, DomainJoined: true}
	s := &Snapshot{Users: map[string]api.User{"alice": {Name: "alice", Groups: []string{"eng"}}}, Apps: map[string]api.App{"wiki": {Name: "wiki"}},
		Profiles: map[string]api.PostureProfile{"strict": prof},
		Policies: []api.Policy{{Name: "p", Groups: []string{"eng"}, Apps: []string{"wiki"}, PostureProfiles: []string{"strict"}}}}
	s.Compile()
	good := with(func(p *api.PostureReport) {
		p.ScreenLock, p.SecureBoot, p.AutoUpdates = api.KnownBool(true), api.KnownBool(true), api.KnownBool(true)
		p.DaysSinceUpdate, p.AgentVersion = api.KnownInt(3), "1.2.0"
		p.Forbidden = map[string]api.BoolFact{"/usr/bin/nc": api.KnownBool(false)}
		p.Files = map[string]api.BoolFact{"/etc/corp/ca.pem": api.KnownBool(true)}
	})
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	if d := s.Decide("alice", good, "wiki", now); !d.Allowed {
		t.Fatalf("Decide on a good device = %+v, want allowed", d.Reasons)
	}
	var names []string
	for _, c := range s.Checks("alice", good) {
		names = append(names, c.Check)
	}
	want := []string{"min_os_versions", "screen_lock", "secure_boot", "auto_updates", "max_days_since_update", "min_agent_version",
		"forbidden:/usr/bin/nc", "file:/etc/corp/ca.pem", "sip", "gatekeeper", "antivirus", "domain_joined"}
	if !slices.Equal(names, want) {
		t.Errorf("Checks order = %q, want %q", names, want)
	}
	bad := *good
	bad.Forbidden = map[string]api.BoolFact{"/usr/bin/nc": api.KnownBool(true)}
	if d := s.Decide("alice", &bad, "wiki", now); d.Allowed || !slices.Equal(codes(d.Reasons), []string{api.CodePostureForbiddenPrefix + "/usr/bin/nc"}) {
		t.Errorf("Decide with nc running = %v %+v, want denied with only %s", d.Allowed, d.Reasons, api.CodePostureForbiddenPrefix+"/usr/bin/nc")
	}
}

// TestQueryAsksForForbiddenAndFiles: the agent is asked about every
// profile's forbidden software and files, once each, sorted.
func TestQueryAsksForForbiddenAndFiles(t *testing.T) {
	s := &Snapshot{Profiles: map[string]api.PostureProfile{
		"a": {Name: "a", ForbiddenSoftware: []string{"/usr/bin/nc", "/usr/bin/anydesk"}, RequiredFiles: []string{"/etc/b"}},
		"b": {Name: "b", ForbiddenSoftware: []string{"/usr/bin/nc"}, RequiredFiles: []string{"/etc/a:" + testSum, "/etc/b"}},
	}}
	q := s.Query()
	if want := []string{"/usr/bin/anydesk", "/usr/bin/nc"}; !slices.Equal(q.Forbidden, want) {
		t.Errorf("Query().Forbidden = %q, want %q", q.Forbidden, want)
	}
	if want := []string{"/etc/a:" + testSum, "/etc/b"}; !slices.Equal(q.Files, want) {
		t.Errorf("Query().Files = %q, want %q", q.Files, want)
	}
}

// TestProfileCondition: a profile's CEL condition is one more check of
// the profile ("condition"); false, an unknown attribute or a broken
// program fail it, and the decision denies with posture.condition.
func TestProfileCondition(t *testing.T) {
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		cond    string
		in      Input
		want    bool
		wantMsg string
	}{
		{name: "true", cond: "device.os == 'linux' && 'corp' in device.tags", in: Input{Posture: goodLinux(), Device: Device{Tags: []string{"corp"}}}, want: true},
		{name: "false", cond: "'corp' in device.tags", in: Input{Posture: goodLinux()}, wantMsg: "is false"},
		{name: "unknown fact fails closed", cond: "device.days_since_update < 30", in: Input{Posture: goodLinux()}, wantMsg: "could not be evaluated"},
		{name: "newer facts readable", cond: "device.days_since_update < 30 && !device.forbidden['/usr/bin/nc'] && device.files['/etc/x']",
			in: Input{Posture: with(func(p *api.PostureReport) {
				p.DaysSinceUpdate = api.KnownInt(2)
				p.Forbidden = map[string]api.BoolFact{"/usr/bin/nc": api.KnownBool(false)}
				p.Files = map[string]api.BoolFact{"/etc/x": api.KnownBool(true)}
			})}, want: true},
		{name: "source network", cond: "request.source_ip.startsWith('10.')", in: Input{SourceIP: "10.9.8.7"}, want: true},
		{name: "source unknown fails closed", cond: "request.source_ip.startsWith('10.')", in: Input{}, wantMsg: "could not be evaluated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Snapshot{Users: map[string]api.User{"alice": {Name: "alice", Groups: []string{"eng"}}}, Apps: map[string]api.App{"wiki": {Name: "wiki"}},
				Profiles: map[string]api.PostureProfile{"cel": {Name: "cel", Condition: tt.cond}},
				Policies: []api.Policy{{Name: "p", Groups: []string{"eng"}, Apps: []string{"wiki"}, PostureProfiles: []string{"cel"}}}}
			s.Compile()
			in := tt.in
			in.Identity, in.App, in.Time = s.Identity("alice"), "wiki", now
			in.Device.State = DeviceApproved
			d := s.Evaluate(in)
			if d.Allowed != tt.want {
				t.Fatalf("Evaluate with profile condition %q = %v %+v, want %v", tt.cond, d.Allowed, d.Reasons, tt.want)
			}
			checks := s.ChecksFor(in)
			if len(checks) != 1 || checks[0].Check != ConditionCheck || checks[0].Profile != "cel" {
				t.Fatalf("ChecksFor = %+v, want one condition check of profile cel", checks)
			}
			if tt.want {
				if checks[0].Status != api.CheckPass {
					t.Errorf("condition check = %+v, want pass", checks[0])
				}
				return
			}
			if len(d.Reasons) != 1 || d.Reasons[0].Code != api.CodePostureCondition || !strings.Contains(d.Reasons[0].Message, tt.wantMsg) ||
				!strings.Contains(d.Reasons[0].Message, `profile "cel"`) || d.Reasons[0].Remediation == "" {
				t.Errorf("Evaluate reasons = %+v, want one %s naming the profile and saying %q", d.Reasons, api.CodePostureCondition, tt.wantMsg)
			}
		})
	}
	// Not compiled, or changed since: fails closed.
	s := &Snapshot{Users: map[string]api.User{"alice": {Name: "alice", Groups: []string{"eng"}}}, Apps: map[string]api.App{"wiki": {Name: "wiki"}},
		Profiles: map[string]api.PostureProfile{"cel": {Name: "cel", Condition: "true"}},
		Policies: []api.Policy{{Name: "p", Groups: []string{"eng"}, Apps: []string{"wiki"}, PostureProfiles: []string{"cel"}}}}
	in := Input{Identity: s.Identity("alice"), Device: Device{State: DeviceApproved}, App: "wiki", Time: now}
	if d := s.Evaluate(in); d.Allowed {
		t.Errorf("Evaluate with an uncompiled profile condition = allowed, want denied")
	}
}

// TestNextEdge: a decision reading the clock has its next edge at the
// next minute (coarse accessors only) or second; a sign-in age's edge is
// when it runs out; a decision reading no clock has none.
func TestNextEdge(t *testing.T) {
	now := time.Date(2026, 12, 7, 8, 59, 30, 500, time.UTC)
	sess := &Session{AuthAt: now.Add(-time.Hour), MFAAt: now.Add(-50 * time.Minute)}
	tests := []struct {
		name    string
		cond    string // the policy's
		profile string // its profile's condition
		mfaAge  time.Duration
		want    time.Time
	}{
		{name: "no clock", cond: "'eng' in user.groups"},
		{name: "office hours: the next minute", cond: "request.time.getHours('Europe/Berlin') >= 9", want: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)},
		{name: "raw timestamp: the next second", cond: "request.time < timestamp('2026-12-07T09:00:00Z')", want: time.Date(2026, 12, 7, 8, 59, 31, 0, time.UTC)},
		{name: "seconds accessor: the next second", cond: "request.time.getSeconds() < 30", want: time.Date(2026, 12, 7, 8, 59, 31, 0, time.UTC)},
		{name: "mixed: the finer", cond: "request.time.getHours() >= 9 || request.time.getSeconds() == 0", want: time.Date(2026, 12, 7, 8, 59, 31, 0, time.UTC)},
		{name: "mfa age in CEL", cond: "user.mfa_age_seconds < 3600", want: time.Date(2026, 12, 7, 8, 59, 31, 0, time.UTC)},
		{name: "profile condition counts", cond: "", profile: "request.time.getDayOfWeek('UTC') in [1, 2, 3, 4, 5]", want: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)},
		{name: "typed MFA age", mfaAge: time.Hour, want: sess.MFAAt.Add(time.Hour + time.Nanosecond)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Snapshot{Users: map[string]api.User{"alice": {Name: "alice", Groups: []string{"eng"}}}, Apps: map[string]api.App{"wiki": {Name: "wiki"}, "other": {Name: "other"}},
				Profiles: map[string]api.PostureProfile{"p": {Name: "p", Condition: tt.profile}},
				Policies: []api.Policy{{Name: "p", Groups: []string{"eng"}, Apps: []string{"wiki"}, PostureProfiles: []string{"p"}, Condition: tt.cond, MFAMaxAge: api.Duration(tt.mfaAge)}}}
			s.Compile()
			in := Input{Identity: s.Identity("alice"), Session: sess, App: "wiki", Time: now}
			if got := s.NextEdge(in); !got.Equal(tt.want) {
				t.Errorf("NextEdge with %q/%q = %v, want %v", tt.cond, tt.profile, got, tt.want)
			}
			in.App = "other"
			if got := s.NextEdge(in); !got.IsZero() {
				t.Errorf("NextEdge of an app no policy names = %v, want none", got)
			}
		})
	}
}
