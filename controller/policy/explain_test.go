package policy

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// TestExplain: the explanation's decision is Evaluate's, and it says of
// every policy whether it was evaluated (with each check and the
// condition's result) or why it was skipped, and which exceptions
// applied or were ignored.
func TestExplain(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	s := testSnapshot()
	s.Policies = append(s.Policies, api.Policy{Name: "eng-grafana-cond", Groups: []string{"eng"}, Apps: []string{"grafana"},
		Condition: `"lab" in device.tags`, RequireSignIn: true})
	s.Exceptions = []api.Exception{
		{ID: "e-fw", Device: "d1", Checks: []string{"firewall"}, Owner: "it-sec", Reason: "lab", ExpiresAt: now.Add(time.Hour)},
		{ID: "e-old", User: "alice", Checks: []string{"disk_encryption"}, Owner: "it-sec", Reason: "old", ExpiresAt: now.Add(-time.Hour)},
	}
	s.Compile()
	d1 := Device{ID: "d1", State: DeviceApproved}
	byName := func(ex api.Explanation) map[string]api.ExplainedPolicy {
		m := map[string]api.ExplainedPolicy{}
		for _, p := range ex.Policies {
			m[p.Name] = p
		}
		return m
	}

	t.Run("denied", func(t *testing.T) {
		in := Input{Identity: s.Identity("alice"), Device: d1, App: "grafana", Time: now,
			Posture: with(func(p *api.PostureReport) { p.DiskEncryption, p.Firewall = api.KnownBool(false), api.KnownBool(false) })}
		ex := s.Explain(in)
		if got, want := ex.Decision, s.Evaluate(in); !reflect.DeepEqual(got, want) {
			t.Fatalf("Explain().Decision = %+v, want Evaluate's %+v", got, want)
		}
		if ex.Decision.Allowed || len(ex.Policies) != len(s.Policies) {
			t.Fatalf("Explain() = allowed %v with %d policies, want denied with all %d", ex.Decision.Allowed, len(ex.Policies), len(s.Policies))
		}
		ps := byName(ex)
		status := map[string]string{}
		for _, c := range ps["eng-grafana"].Checks {
			status[c.Check] = c.Status
		}
		if status["disk_encryption"] != api.CheckFail || status["firewall"] != api.CheckWaived || status["os_family"] != api.CheckPass {
			t.Errorf("Explain() eng-grafana checks = %v, want disk_encryption fail, firewall waived, os_family pass", status)
		}
		if p := ps["eng-grafana-cond"]; p.SignIn == nil || p.SignIn.Code != api.CodeSignInRequired || p.SignInNeeds == "" {
			t.Errorf("Explain() eng-grafana-cond = %+v, want its sign-in need unmet", p)
		}
		if p := ps["everyone-wiki"]; !strings.Contains(p.Skipped, "does not give app grafana") {
			t.Errorf("Explain() everyone-wiki skipped %q, want not this app", p.Skipped)
		}
		if len(ex.Exceptions) != 2 {
			t.Fatalf("Explain().Exceptions = %+v, want e-fw and e-old", ex.Exceptions)
		}
		for _, e := range ex.Exceptions {
			switch {
			case e.ID == "e-fw" && (!e.InForce || !reflect.DeepEqual(e.Applied, []string{"firewall"})):
				t.Errorf("Explain() e-fw = %+v, want in force, applied to firewall", e)
			case e.ID == "e-old" && (e.InForce || len(e.Applied) > 0):
				t.Errorf("Explain() e-old = %+v, want expired, applied to nothing", e)
			}
		}
	})

	t.Run("allowed by the condition", func(t *testing.T) {
		in := Input{Identity: s.Identity("alice"), Device: Device{ID: "d2", State: DeviceApproved, Tags: []string{"lab"}},
			Session: &Session{AuthAt: now}, App: "grafana", Time: now,
			Posture: with(func(p *api.PostureReport) { p.DiskEncryption = api.KnownBool(false) })}
		ex := s.Explain(in)
		ps := byName(ex)
		if !ex.Decision.Allowed || !ps["eng-grafana-cond"].Passed || ps["eng-grafana-cond"].ConditionResult != "true" {
			t.Errorf("Explain() = allowed %v, eng-grafana-cond %+v; want allowed by it, condition true", ex.Decision.Allowed, ps["eng-grafana-cond"])
		}
		if ps["eng-grafana"].Passed || len(ps["eng-grafana"].Checks) == 0 {
			t.Errorf("Explain() eng-grafana = %+v, want evaluated and failed", ps["eng-grafana"])
		}
		if p := ps["mixed-crm-mac"]; !strings.Contains(p.Skipped, "does not give app") {
			t.Errorf("Explain() mixed-crm-mac skipped %q", p.Skipped)
		}
	})

	t.Run("condition error", func(t *testing.T) {
		s := testSnapshot()
		s.Policies = []api.Policy{{Name: "os-cond", Groups: []string{"sales"}, Apps: []string{"wiki"}, Condition: `device.os == 'linux'`}}
		s.Compile()
		ex := s.Explain(Input{Identity: s.Identity("bob"), Device: d1, App: "wiki", Time: now})
		p := byName(ex)["os-cond"]
		if ex.Decision.Allowed || !strings.Contains(p.ConditionResult, "could not be evaluated") || !strings.Contains(p.ConditionResult, "device.os") {
			t.Errorf("Explain() with no posture = allowed %v, condition %q; want denied, the evaluation error naming device.os", ex.Decision.Allowed, p.ConditionResult)
		}
	})

	t.Run("condition false and groups", func(t *testing.T) {
		in := Input{Identity: s.Identity("alice"), Device: d1, Session: &Session{AuthAt: now}, App: "grafana", Time: now, Posture: goodLinux()}
		ex := s.Explain(in)
		ps := byName(ex)
		if !ex.Decision.Allowed {
			t.Fatalf("Explain() = denied %+v, want allowed by eng-grafana", ex.Decision.Reasons)
		}
		if p := ps["eng-grafana-cond"]; !strings.Contains(p.Skipped, "policy eng-grafana allowed first") {
			t.Errorf("Explain() eng-grafana-cond = %+v, want skipped after eng-grafana allowed", p)
		}
		bob := s.Explain(Input{Identity: s.Identity("bob"), Device: d1, App: "grafana", Time: now})
		if p := byName(bob)["eng-grafana"]; !strings.Contains(p.Skipped, "not for the user's groups (it is for: eng)") {
			t.Errorf("Explain(bob) eng-grafana skipped %q, want not for bob's groups", p.Skipped)
		}
		in.Device.Tags, in.Posture = []string{"desk"}, with(func(p *api.PostureReport) { p.Firewall = api.KnownBool(false) })
		in.Device.ID = "d9"
		if p := byName(s.Explain(in))["eng-grafana-cond"]; !strings.Contains(p.ConditionResult, "is false") {
			t.Errorf("Explain() eng-grafana-cond condition %q, want false", p.ConditionResult)
		}
	})
}

// TestDenialsListEveryFailingCheck: a denial lists every failing or
// unknown check of the policy (not just the first), each with its
// remediation; so does every check a profile with every kind of check
// can fail (the profile names all of api.PostureProfile's checks, so a
// check added later without a remediation fails here).
func TestDenialsListEveryFailingCheck(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	every := api.PostureProfile{Name: "every", OSFamily: "linux", MinKernel: "6.1", MinOSVersion: "12",
		DiskEncryption: true, Firewall: true, RequiredProcesses: []string{"/usr/sbin/sshd"},
		MinOSVersions: map[string]string{"linux": "12"}, ScreenLock: true, SecureBoot: true, AutoUpdates: true,
		MaxDaysSinceUpdate: 30, MinAgentVersion: "1.0", ForbiddenSoftware: []string{"/usr/bin/nc"},
		RequiredFiles: []string{"/etc/ssl/corp.pem"}, SIP: true, Gatekeeper: true, Antivirus: true, DomainJoined: true}
	s := &Snapshot{Users: map[string]api.User{"alice": {Name: "alice", Groups: []string{"eng"}}},
		Apps:     map[string]api.App{"grafana": {Name: "grafana"}},
		Profiles: map[string]api.PostureProfile{"every": every},
		Policies: []api.Policy{{Name: "p", Groups: []string{"eng"}, Apps: []string{"grafana"}, PostureProfiles: []string{"every"}}}}
	s.Compile()
	for _, c := range s.profileChecks([]string{"every"}, s.newDecider(Input{Time: now})) {
		if c.Status == api.CheckPass || c.Reason.Remediation == "" || c.Reason.Message == "" {
			t.Errorf("check %s on no posture = %s %+v, want it failing closed with a message and a remediation", c.Check, c.Status, c.Reason)
		}
	}
	in := Input{Identity: s.Identity("alice"), Device: Device{ID: "d1", State: DeviceApproved}, App: "grafana", Time: now,
		Posture: with(func(p *api.PostureReport) { p.DiskEncryption, p.Firewall = api.KnownBool(false), api.KnownBool(false) })}
	d := s.Evaluate(in)
	failing := 0
	for _, c := range s.profileChecks([]string{"every"}, s.newDecider(in)) {
		if c.Status != api.CheckPass {
			failing++
			if !slices.Contains(d.Reasons, c.Reason) {
				t.Errorf("Evaluate().Reasons = %+v, lacks failing check %s (%q)", d.Reasons, c.Check, c.Reason.Message)
			}
		}
	}
	if d.Allowed || failing < 2 {
		t.Fatalf("Evaluate() = allowed %v with %d failing checks; want denied by at least disk encryption and firewall", d.Allowed, failing)
	}
	for _, r := range d.Reasons {
		if r.Remediation == "" {
			t.Errorf("denial reason %q has no remediation", r.Message)
		}
	}
}
