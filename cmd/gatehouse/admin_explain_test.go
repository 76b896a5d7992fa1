package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// TestWriteExplanation: the text shows the verdict with each reason and
// its fix, the user and device, every policy (skipped ones with why),
// each check with its status, the condition's result and the exceptions.
func TestWriteExplanation(t *testing.T) {
	at := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	denied := api.Explanation{App: "grafana", Time: at,
		User:   api.ExplainedUser{Name: "alice", Known: true, Groups: []string{"eng"}},
		Device: api.ExplainedDevice{ID: "d1", State: "approved", Online: true, Posture: true},
		Policies: []api.ExplainedPolicy{
			{Name: "eng-grafana", Checks: []api.CheckResult{
				{Profile: "hardened", Check: "disk_encryption", Status: api.CheckFail, Reason: api.Reason{Message: "disk encryption is off", Remediation: "Turn on disk encryption"}},
				{Profile: "hardened", Check: "firewall", Status: api.CheckWaived, Reason: api.Reason{Message: "firewall check waived until 2026-12-08 12:00 UTC (owner: it-sec, reason: lab): the firewall is off"}},
			}, Condition: `"lab" in device.tags`, ConditionResult: "policy \"eng-grafana\": condition `\"lab\" in device.tags` is false"},
			{Name: "everyone-wiki", Skipped: "does not give app grafana (it gives: wiki)"},
		},
		Exceptions: []api.ExplainedException{
			{Exception: api.Exception{ID: "e-fw", Device: "d1", Checks: []string{"firewall"}, Owner: "it-sec", Reason: "lab", ExpiresAt: at.Add(72 * time.Hour)}, InForce: true, Applied: []string{"firewall"}},
			{Exception: api.Exception{ID: "e-old", User: "alice", Checks: []string{"disk_encryption"}, Owner: "it-sec", Reason: "old\x1b[2J", ExpiresAt: at.Add(-time.Hour)}},
		},
		Decision: api.Decision{App: "grafana", Reasons: []api.Reason{{Message: "disk encryption is off", Remediation: "Turn on disk encryption"}}},
	}
	allowed := api.Explanation{App: "wiki", Time: at,
		User: api.ExplainedUser{Name: "alice", Known: true, Groups: []string{"eng"},
			Claims: map[string]string{"email": "alice@example.com", "department": "sre"}},
		Device:   api.ExplainedDevice{ID: "d1", State: "approved"},
		Session:  &api.ExplainedSession{Methods: []string{"pwd", "otp"}, AuthAt: at, MFAAt: at},
		Policies: []api.ExplainedPolicy{{Name: "everyone-wiki", Passed: true, SignInNeeds: "a signed-in session"}},
		Decision: api.Decision{App: "wiki", Allowed: true, Reasons: []api.Reason{{Message: `allowed by policy "everyone-wiki"`}}},
	}
	tests := []struct {
		name  string
		in    api.Explanation
		want  []string
		never []string
	}{
		{"denied", denied, []string{
			"DENIED: app grafana for user alice on device d1",
			"  - disk encryption is off\n    fix: Turn on disk encryption",
			"user alice: enabled, groups: eng",
			"device d1: approved, online",
			"session: nobody signed in",
			"  eng-grafana: FAILS",
			"FAIL     hardened/disk_encryption: disk encryption is off",
			"fix: Turn on disk encryption",
			"WAIVED   hardened/firewall: firewall check waived until 2026-12-08 12:00 UTC (owner: it-sec, reason: lab)",
			"condition `\"lab\" in device.tags`: policy \"eng-grafana\": condition `\"lab\" in device.tags` is false",
			"  everyone-wiki: skipped: does not give app grafana",
			"e-fw (device d1) waives firewall until 2026-12-08 12:00 UTC, owner it-sec, reason lab: applied to firewall",
			"e-old (user alice) waives disk_encryption until 2026-12-05 11:00 UTC",
			"EXPIRED, ignored",
		}, []string{"\x1b", "user.claims"}},
		{"allowed", allowed, []string{
			"ALLOWED: app wiki for user alice",
			`  - allowed by policy "everyone-wiki"`,
			"session: signed in at 2026-12-05T12:00:00Z (pwd+otp)",
			`  claims (user.claims, from the identity provider): department="sre", email="alice@example.com"`,
			"  everyone-wiki: PASSES",
			"    sign-in needs: a signed-in session",
			"no trusted posture report",
		}, []string{"fix:", "exceptions:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			writeExplanation(&out, tt.in)
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("writeExplanation(%s) lacks %q; got:\n%s", tt.name, w, out.String())
				}
			}
			for _, n := range tt.never {
				if strings.Contains(out.String(), n) {
					t.Errorf("writeExplanation(%s) has %q; got:\n%s", tt.name, n, out.String())
				}
			}
		})
	}
}

func TestExceptionExpiry(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		until   string
		lasts   time.Duration
		want    time.Time
		wantErr bool
	}{
		{until: "2026-12-31T00:00Z", want: time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)},
		{until: "2026-12-31T12:30:00+01:00", want: time.Date(2026, 12, 31, 11, 30, 0, 0, time.UTC)},
		{until: "2026-12-31", want: time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)},
		{lasts: 72 * time.Hour, want: now.Add(72 * time.Hour)},
		{until: "tomorrow", wantErr: true},
		{until: "2026-12-31", lasts: time.Hour, wantErr: true},
		{wantErr: true},
		{lasts: -time.Hour, wantErr: true},
	}
	for _, tt := range tests {
		got, err := exceptionExpiry(tt.until, tt.lasts, now)
		if (err != nil) != tt.wantErr || !tt.wantErr && !got.Equal(tt.want) {
			t.Errorf("exceptionExpiry(%q, %v) = %v, %v; want %v (error %v)", tt.until, tt.lasts, got, err, tt.want, tt.wantErr)
		}
	}
}
