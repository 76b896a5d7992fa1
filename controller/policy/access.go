package policy

import (
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// Access is the user's just-in-time access to one app (api/access.go), as
// the controller's requests record it.
type Access struct {
	// Until is when approved access ends; zero when none was approved.
	// A past Until is access that expired (the denial says when).
	Until time.Time
	// Pending: a request for the app waits for an approver.
	Pending bool
	// Denied, when the user's last request for the app was denied or its
	// access ended early, says so, by whom and why ("denied by user:bob:
	// use the replica").
	Denied string
}

// NeedsApproval reports whether p is a just-in-time policy.
func NeedsApproval(p api.Policy) bool { return p.Approvers != "" }

// MaxAccess is the longest access p grants on one request.
func MaxAccess(p api.Policy) time.Duration {
	if p.MaxAccess <= 0 {
		return api.DefaultMaxAccess
	}
	return min(time.Duration(p.MaxAccess), api.MaxMaxAccess)
}

// ApprovalPolicy is the policy a request by user for app is decided under:
// the first (by name) just-in-time policy giving app to one of user's
// groups. ok is false when no policy gives user the app, or when one gives
// it without approval (then there is nothing to request).
func (s *Snapshot) ApprovalPolicy(user, app string) (p api.Policy, ok bool) {
	u, known := s.Users[user]
	if _, exists := s.Apps[app]; !known || !exists {
		return api.Policy{}, false
	}
	for _, cand := range s.Policies {
		if !slices.Contains(cand.Apps, app) || !intersects(cand.Groups, u.Groups) {
			continue
		}
		if !NeedsApproval(cand) {
			return api.Policy{}, false
		}
		if !ok {
			p, ok = cand, true
		}
	}
	return p, ok
}

// accessDenial is the reason policy p does not give app for lack of
// approved access, if it asks for approval.
func (dc *decider) accessDenial(p api.Policy, app string) (api.Reason, bool) {
	if !NeedsApproval(p) {
		return api.Reason{}, false
	}
	a := dc.in.Access[app]
	if a.Until.After(dc.now) {
		return api.Reason{}, false
	}
	hint := fmt.Sprintf("Request access: gatehouse request %s --reason \"…\" --for 2h", app)
	switch {
	case a.Pending:
		return api.Reason{Code: api.CodeAccessPending,
			Message:     fmt.Sprintf("your request for %s waits for approval by group %s", app, p.Approvers),
			Remediation: fmt.Sprintf("Ask a member of %s to approve it (gatehouse admin requests approve)", p.Approvers)}, true
	case a.Denied != "":
		return api.Reason{Code: api.CodeAccessDenied,
			Message:     fmt.Sprintf("your request for %s was %s", app, a.Denied),
			Remediation: hint}, true
	case !a.Until.IsZero():
		return api.Reason{Code: api.CodeAccessExpired,
			Message:     fmt.Sprintf("your access to %s expired at %s", app, a.Until.UTC().Format(time.RFC3339)),
			Remediation: hint}, true
	}
	return api.Reason{Code: api.CodeAccessRequired,
		Message:     fmt.Sprintf("access to %s needs an approved request (approvers: %s)", app, p.Approvers),
		Remediation: hint}, true
}
