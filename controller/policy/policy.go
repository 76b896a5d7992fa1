package policy

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// Snapshot is the policy state at one moment. It is never modified after
// it is built; the controller swaps in a new one on every admin change.
type Snapshot struct {
	Users    map[string]api.User
	Apps     map[string]api.App
	Profiles map[string]api.PostureProfile
	Policies []api.Policy
}

// Decide answers whether user on a device with this posture may reach app.
// A nil posture (no report yet) fails every posture check.
func (s *Snapshot) Decide(user string, posture *api.PostureReport, app string, now time.Time) api.Decision {
	d := api.Decision{App: app, EvaluatedAt: now}
	if _, ok := s.Apps[app]; !ok {
		d.Reasons = []api.Reason{{Code: "app.unknown", Message: fmt.Sprintf("there is no app named %q", app),
			Remediation: "Check the app name with `gatehouse apps`"}}
		return d
	}
	u, ok := s.Users[user]
	if !ok {
		d.Reasons = []api.Reason{{Code: "user.unknown", Message: fmt.Sprintf("user %q no longer exists", user),
			Remediation: "Ask an admin to restore your account, then log in again"}}
		return d
	}
	matched := s.policiesFor(u, app)
	if len(matched) == 0 {
		groups := "none"
		if len(u.Groups) > 0 {
			groups = strings.Join(u.Groups, ", ")
		}
		d.Reasons = []api.Reason{{Code: "policy.no_match",
			Message:     fmt.Sprintf("app %q is not in any policy for your groups (%s)", app, groups),
			Remediation: fmt.Sprintf("Ask an admin to give one of your groups access to %s", app)}}
		return d
	}
	var failed []api.Reason
	for _, p := range matched {
		var reasons []api.Reason
		for _, c := range s.profileChecks(p.PostureProfiles, posture) {
			if c.Status != api.CheckPass {
				reasons = append(reasons, c.Reason)
			}
		}
		if len(reasons) == 0 {
			d.Allowed = true
			d.Reasons = []api.Reason{{Code: "policy.allow", Message: fmt.Sprintf("allowed by policy %q", p.Name)}}
			return d
		}
		failed = appendNew(failed, reasons...)
	}
	d.Reasons = failed
	return d
}

// Checks runs every posture profile that any of user's policies requires,
// for `gatehouse posture`.
func (s *Snapshot) Checks(user string, posture *api.PostureReport) []api.CheckResult {
	u := s.Users[user]
	var names []string
	for _, p := range s.Policies {
		if intersects(p.Groups, u.Groups) {
			for _, n := range p.PostureProfiles {
				if !slices.Contains(names, n) {
					names = append(names, n)
				}
			}
		}
	}
	sort.Strings(names)
	return s.profileChecks(names, posture)
}

// Query is the union of extra facts the profiles ask of every agent.
func (s *Snapshot) Query() api.PostureQuery {
	var q api.PostureQuery
	for _, p := range s.Profiles {
		for _, proc := range p.RequiredProcesses {
			if !slices.Contains(q.Processes, proc) {
				q.Processes = append(q.Processes, proc)
			}
		}
	}
	sort.Strings(q.Processes)
	return q
}

// AppNames lists the apps, sorted.
func (s *Snapshot) AppNames() []string {
	names := make([]string, 0, len(s.Apps))
	for n := range s.Apps {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (s *Snapshot) policiesFor(u api.User, app string) []api.Policy {
	var out []api.Policy
	for _, p := range s.Policies {
		if slices.Contains(p.Apps, app) && intersects(p.Groups, u.Groups) {
			out = append(out, p)
		}
	}
	return out
}

func (s *Snapshot) profileChecks(names []string, posture *api.PostureReport) []api.CheckResult {
	var out []api.CheckResult
	for _, name := range names {
		prof, ok := s.Profiles[name]
		if !ok {
			// A policy naming a missing profile fails closed.
			out = append(out, api.CheckResult{Profile: name, Check: "profile", Status: api.CheckFail,
				Reason: api.Reason{Code: "policy.missing_profile",
					Message:     fmt.Sprintf("posture profile %q does not exist", name),
					Remediation: "Ask an admin to fix the policy"}})
			continue
		}
		for _, c := range checksOf(prof) {
			r := c.run(posture)
			r.Profile = name
			out = append(out, r)
		}
	}
	return out
}

func intersects(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

func appendNew(dst []api.Reason, rs ...api.Reason) []api.Reason {
	for _, r := range rs {
		if !slices.Contains(dst, r) {
			dst = append(dst, r)
		}
	}
	return dst
}
