package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// Trace is what the engine records of one evaluation when asked to
// (Explain): the normal path leaves decider.trace nil and pays one nil
// check per policy.
type Trace struct {
	policies map[int]*api.ExplainedPolicy // by policy index: those evaluated
}

// policyReasons evaluates policy i for dc — its sign-in needs, then its
// profiles' checks (exceptions applied), then its condition — and
// returns why it fails (none: it passes). A sign-in need not met comes
// first, with every failing check after it.
func (dc *decider) policyReasons(i int) []api.Reason {
	s, p := dc.s, dc.s.Policies[i]
	var pt *api.ExplainedPolicy
	if dc.trace != nil {
		pt = &api.ExplainedPolicy{Name: p.Name, SignInNeeds: signInNeeds(p)}
		dc.trace.policies[i] = pt
	}
	if r, denied := signInDenial(p, dc.in.Session, dc.now); denied {
		// The policy fails here, but the user learns everything that
		// stands in the way: the checks that fail now follow the sign-in
		// reason (its condition may read the session, so it waits).
		checks := s.WaiveChecks(dc.userName, dc.in.Device.ID, dc.now, s.profileChecks(p.PostureProfiles, dc))
		reasons := []api.Reason{r}
		for _, c := range checks {
			if c.Status != api.CheckPass && c.Status != api.CheckWaived {
				reasons = append(reasons, c.Reason)
			}
		}
		if pt != nil {
			signIn := r // a copy: taking r's address would move it to the heap on every call
			pt.SignIn, pt.Checks = &signIn, checks
		}
		return reasons
	}
	var reasons []api.Reason
	checks := s.WaiveChecks(dc.userName, dc.in.Device.ID, dc.now, s.profileChecks(p.PostureProfiles, dc))
	for _, c := range checks {
		switch c.Status {
		case api.CheckPass:
		case api.CheckWaived:
			if dc.waived == nil {
				dc.waived = map[int][]api.Reason{}
			}
			dc.waived[i] = append(dc.waived[i], waivedReasons([]api.CheckResult{c})...)
		default:
			reasons = append(reasons, c.Reason)
		}
	}
	cond, denied := dc.conditionDenial(i)
	if denied {
		reasons = append(reasons, cond)
	}
	if pt != nil {
		pt.Checks, pt.Condition, pt.Passed = checks, p.Condition, len(reasons) == 0
		if p.Condition != "" {
			pt.ConditionResult = "true"
			if denied {
				pt.ConditionResult = cond.Message
			}
		}
	}
	return reasons
}

// signInNeeds says what p asks of the session, "" for nothing.
func signInNeeds(p api.Policy) string {
	if !needsSignIn(p) {
		return ""
	}
	needs := []string{"a signed-in session"}
	if p.RequireMFA || p.MFAMaxAge > 0 {
		needs = append(needs, "a second factor")
	}
	if p.MFAMaxAge > 0 {
		needs = append(needs, fmt.Sprintf("second factor at most %v old", time.Duration(p.MFAMaxAge)))
	}
	if p.SessionMaxAge > 0 {
		needs = append(needs, fmt.Sprintf("sign-in at most %v old", time.Duration(p.SessionMaxAge)))
	}
	return strings.Join(needs, ", ")
}

// Explain evaluates in as Evaluate does and says how: every policy (and
// why one was skipped), every check, condition and exception. Its
// Decision is the one Evaluate gives. Slower than Evaluate; for admins.
func (s *Snapshot) Explain(in Input) api.Explanation {
	dc := s.newDecider(in)
	dc.trace = &Trace{policies: map[int]*api.ExplainedPolicy{}}
	d := dc.decide(in.App, nil)

	_, known := s.Users[in.Identity.User]
	ex := api.Explanation{App: in.App, Time: in.Time, Decision: d,
		User: api.ExplainedUser{Name: in.Identity.User, Known: known, Disabled: in.Identity.Disabled, Groups: nonNil(in.Identity.Groups),
			Claims: in.Identity.Claims},
		Device: api.ExplainedDevice{ID: in.Device.ID, State: in.Device.State, Interactive: in.Device.Interactive,
			Tags: in.Device.Tags, Posture: in.Posture != nil},
		Policies: []api.ExplainedPolicy{}}
	if in.Session != nil {
		ex.Session = &api.ExplainedSession{Methods: in.Session.Methods, AuthAt: in.Session.AuthAt, MFAAt: in.Session.MFAAt}
	}
	if r, denied := identityDenial(in); denied && known {
		ex.Identity = &r
	}
	var allowedBy string
	if d.Allowed {
		for i, pt := range dc.trace.policies {
			if pt.Passed {
				allowedBy = s.Policies[i].Name
			}
		}
	}
	for i, p := range s.Policies {
		if pt, ok := dc.trace.policies[i]; ok {
			ex.Policies = append(ex.Policies, *pt)
			continue
		}
		ep := api.ExplainedPolicy{Name: p.Name}
		switch {
		case !slices.Contains(p.Apps, in.App):
			ep.Skipped = fmt.Sprintf("does not give app %s (it gives: %s)", in.App, listOrNone(p.Apps))
		case !intersects(p.Groups, in.Identity.Groups):
			ep.Skipped = fmt.Sprintf("not for the user's groups (it is for: %s)", listOrNone(p.Groups))
		case allowedBy != "":
			ep.Skipped = fmt.Sprintf("not evaluated: policy %s allowed first", allowedBy)
		default:
			ep.Skipped = "not evaluated: " + api.ReasonsText(d.Reasons)
		}
		ex.Policies = append(ex.Policies, ep)
	}
	applied := map[string][]string{} // exception ID → checks it waived
	for _, pt := range ex.Policies {
		for _, c := range pt.Checks {
			if c.Status != api.CheckWaived {
				continue
			}
			if e, ok := s.waiverFor(in.Identity.User, in.Device.ID, c.Check, in.Time); ok && !slices.Contains(applied[e.ID], c.Check) {
				applied[e.ID] = append(applied[e.ID], c.Check)
			}
		}
	}
	for _, e := range s.ExceptionsFor(in.Identity.User, in.Device.ID) {
		ex.Exceptions = append(ex.Exceptions, api.ExplainedException{Exception: e, InForce: inForce(e, in.Time), Applied: applied[e.ID]})
	}
	return ex
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
