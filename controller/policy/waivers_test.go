package policy

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// waiverSnapshot is testSnapshot with exceptions, compiled.
func waiverSnapshot(es ...api.Exception) *Snapshot {
	s := testSnapshot()
	s.Exceptions = es
	s.Compile()
	return s
}

// TestWaivers: an exception in force waives the failing or unknown checks
// it names for its user or device, and nothing else; at its expiry (on
// the input's clock) it stops applying.
func TestWaivers(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	until := now.Add(72 * time.Hour)
	fwOff := with(func(p *api.PostureReport) { p.Firewall = api.KnownBool(false) })
	fwUnknown := with(func(p *api.PostureReport) { p.Firewall = api.BoolFact{} })
	fwAndDiskOff := with(func(p *api.PostureReport) {
		p.Firewall, p.DiskEncryption = api.KnownBool(false), api.KnownBool(false)
	})
	byUser := api.Exception{ID: "e-user", User: "alice", Checks: []string{"firewall"}, Owner: "it-sec", Reason: "vendor VPN conflicts", ExpiresAt: until}
	byDevice := api.Exception{ID: "e-dev", Device: "d1", Checks: []string{"firewall"}, Owner: "it-sec", Reason: "lab box", ExpiresAt: until}
	expired := api.Exception{ID: "e-old", User: "alice", Checks: []string{"firewall"}, Owner: "it-sec", Reason: "old", ExpiresAt: now.Add(-time.Minute)}
	other := api.Exception{ID: "e-other", User: "mallory", Checks: []string{"firewall"}, Owner: "it-sec", Reason: "r", ExpiresAt: until}
	d1 := Device{ID: "d1", State: DeviceApproved}
	d2 := Device{ID: "d2", State: DeviceApproved}
	tests := []struct {
		name        string
		exceptions  []api.Exception
		device      Device
		posture     *api.PostureReport
		at          time.Time
		wantAllowed bool
		wantCode    string
	}{
		{"no exception denies", nil, d1, fwOff, now, false, api.CodePostureFirewall},
		{"user's exception waives", []api.Exception{byUser}, d2, fwOff, now, true, api.CodeExceptionWaived},
		{"device's exception waives", []api.Exception{byDevice}, d1, fwOff, now, true, api.CodeExceptionWaived},
		{"device's exception, another device", []api.Exception{byDevice}, d2, fwOff, now, false, api.CodePostureFirewall},
		{"unknown is waived too", []api.Exception{byUser}, d1, fwUnknown, now, true, api.CodeExceptionWaived},
		{"another user's exception", []api.Exception{other}, d1, fwOff, now, false, api.CodePostureFirewall},
		{"only the named checks", []api.Exception{byUser}, d1, fwAndDiskOff, now, false, api.CodePostureDiskEncryption},
		{"expired exception", []api.Exception{expired}, d1, fwOff, now, false, api.CodePostureFirewall},
		{"a second before expiry", []api.Exception{byUser}, d1, fwOff, until.Add(-time.Second), true, api.CodeExceptionWaived},
		{"at expiry", []api.Exception{byUser}, d1, fwOff, until, false, api.CodePostureFirewall},
		{"passing check: no note", []api.Exception{byUser}, d1, goodLinux(), now, true, api.CodePolicyAllow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := waiverSnapshot(tt.exceptions...)
			in := Input{Identity: s.Identity("alice"), Device: tt.device, Posture: tt.posture, App: "grafana", Time: tt.at}
			d := s.Evaluate(in)
			if d.Allowed != tt.wantAllowed || !slices.Contains(codes(d.Reasons), tt.wantCode) {
				t.Errorf("Evaluate(%s) = allowed %v, %q; want allowed %v with %q", tt.name, d.Allowed, codes(d.Reasons), tt.wantAllowed, tt.wantCode)
			}
			if all := s.DecideAll(in, []string{"grafana"}); all[0].Allowed != d.Allowed {
				t.Errorf("DecideAll(%s) allowed %v, Evaluate %v", tt.name, all[0].Allowed, d.Allowed)
			}
		})
	}

	// What the user sees: in the decision and in `gatehouse posture`.
	s := waiverSnapshot(byUser)
	in := Input{Identity: s.Identity("alice"), Device: d1, Posture: fwOff, App: "grafana", Time: now}
	d := s.Evaluate(in)
	want := "firewall check waived until 2026-12-08 12:00 UTC (owner: it-sec, reason: vendor VPN conflicts)"
	if len(d.Reasons) != 2 || !strings.HasPrefix(d.Reasons[1].Message, want) {
		t.Errorf("Evaluate().Reasons = %+v, want the allow and %q", d.Reasons, want)
	}
	cs := s.WaiveChecks("alice", "d1", now, s.Checks("alice", fwOff))
	var fw api.CheckResult
	for _, c := range cs {
		if c.Check == "firewall" {
			fw = c
		}
	}
	if fw.Status != api.CheckWaived || !fw.WaivedUntil.Equal(until) || !strings.HasPrefix(fw.Reason.Message, want) {
		t.Errorf("WaiveChecks() firewall = %+v, want waived until %v saying %q", fw, until, want)
	}
	// After expiry the failure names the exception that ran out.
	cs = s.WaiveChecks("alice", "d1", until, s.Checks("alice", fwOff))
	for _, c := range cs {
		if c.Check == "firewall" && (c.Status != api.CheckFail || !strings.Contains(c.Reason.Message, "exception e-user expired")) {
			t.Errorf("WaiveChecks() at expiry firewall = %+v, want fail naming the expired exception", c)
		}
	}
}

// TestWaiverNeverWaivesAMissingProfile: "profile" is not a check an
// exception can waive.
func TestWaiverNeverWaivesAMissingProfile(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	s := waiverSnapshot(api.Exception{ID: "e", User: "frank", Checks: []string{"profile"}, ExpiresAt: now.Add(time.Hour)})
	d := s.Evaluate(Input{Identity: s.Identity("frank"), Device: Device{ID: "d", State: DeviceApproved}, Posture: goodLinux(), App: "db", Time: now})
	if d.Allowed {
		t.Errorf("Evaluate(frank, db) with a \"profile\" exception = allowed, want denied (%s)", api.CodePolicyMissingProfile)
	}
}

func TestNextExpiry(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	s := waiverSnapshot(
		api.Exception{ID: "a", User: "alice", Checks: []string{"firewall"}, ExpiresAt: now.Add(-time.Hour)},
		api.Exception{ID: "b", User: "alice", Checks: []string{"firewall"}, ExpiresAt: now.Add(2 * time.Hour)},
		api.Exception{ID: "c", Device: "d1", Checks: []string{"firewall"}, ExpiresAt: now.Add(time.Hour)},
	)
	if next, ok := s.NextExpiry(now); !ok || !next.Equal(now.Add(time.Hour)) {
		t.Errorf("NextExpiry(now) = %v, %v; want %v", next, ok, now.Add(time.Hour))
	}
	if next, ok := s.NextExpiry(now.Add(3 * time.Hour)); ok {
		t.Errorf("NextExpiry(after all) = %v, true; want none", next)
	}
}
