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
	// Exceptions are every stored exception, expired ones too (explain
	// shows those as ignored); Evaluate applies those in force at
	// Input.Time for the input's user or device (waivers.go).
	Exceptions []api.Exception
	// Claims are, by user, the identity provider's claims at the user's
	// last upstream sign-in or refresh (user.claims); a user without
	// them is absent. Read with the snapshot, never per decision.
	Claims map[string]map[string]string

	// waivers indexes Exceptions by user and by device (Compile).
	waivers waiverIndex
	// conditions are Policies' compiled conditions, by index (Compile).
	conditions []condition
	// profileConds are Profiles' compiled conditions, by name (Compile).
	profileConds map[string]condition
	// profileCheckList are Profiles' typed checks, made once (Compile).
	profileCheckList map[string][]check
	// edgeSteps are, by index of Policies, how finely each policy's
	// decision may change with the time alone (Compile, edges.go).
	edgeSteps []time.Duration
}

// Decide answers whether user, on an approved device acting on its
// enrollment alone (no session), with this posture, may reach app. A nil
// posture (no report yet) fails every posture check.
func (s *Snapshot) Decide(user string, posture *api.PostureReport, app string, now time.Time) api.Decision {
	return s.Evaluate(Input{Identity: s.Identity(user), Device: Device{State: DeviceApproved}, Posture: posture, App: app, Time: now})
}

// DecideAll decides each of apps for in (in.App is ignored) as Evaluate
// would, sharing the work over a whole catalogue: the user's policies are
// indexed by app once, and each policy's needs are checked once.
func (s *Snapshot) DecideAll(in Input, apps []string) []api.Decision {
	dc := s.newDecider(in)
	byApp := map[string][]int{}
	for i, p := range s.Policies {
		if intersects(p.Groups, dc.groups) {
			for _, a := range p.Apps {
				byApp[a] = append(byApp[a], i)
			}
		}
	}
	out := make([]api.Decision, len(apps))
	for i, app := range apps {
		out[i] = dc.decide(app, byApp)
	}
	return out
}

// decider decides for one input (its app aside), remembering what each
// policy's needs found.
type decider struct {
	s         *Snapshot
	in        Input
	userName  string
	groups    []string // the identity's
	userKnown bool
	posture   *api.PostureReport
	now       time.Time
	failing   map[int][]api.Reason // by policy index: the reasons it fails (none: passes)
	waived    map[int][]api.Reason // by policy index: the checks it passed by an exception (nil: none)
	trace     *Trace               // filled when explaining (Explain); nil on the normal path
	vars      *activation          // what conditions see; built on first use
}

func (s *Snapshot) newDecider(in Input) *decider {
	_, ok := s.Users[in.Identity.User]
	return &decider{s: s, in: in, userName: in.Identity.User, groups: in.Identity.Groups, userKnown: ok,
		posture: in.Posture, now: in.Time, failing: map[int][]api.Reason{}}
}

// decide decides app; byApp, when given, indexes the user's policies by
// the apps they name.
func (dc *decider) decide(app string, byApp map[string][]int) api.Decision {
	s := dc.s
	d := api.Decision{App: app, EvaluatedAt: dc.now}
	if _, ok := s.Apps[app]; !ok {
		d.Reasons = []api.Reason{{Code: api.CodeAppUnknown, Message: fmt.Sprintf("there is no app named %q", app),
			Remediation: "Check the app name with `gatehouse apps`"}}
		return d
	}
	if !dc.userKnown {
		d.Reasons = []api.Reason{{Code: api.CodeUserUnknown, Message: fmt.Sprintf("user %q no longer exists", dc.userName),
			Remediation: "Ask an admin to restore your account, then log in again"}}
		return d
	}
	if r, denied := identityDenial(dc.in); denied {
		d.Reasons = []api.Reason{r}
		return d
	}
	matched := byApp[app]
	if byApp == nil {
		for i, p := range s.Policies {
			if slices.Contains(p.Apps, app) && intersects(p.Groups, dc.groups) {
				matched = append(matched, i)
			}
		}
	}
	if len(matched) == 0 {
		groups := "none"
		if len(dc.groups) > 0 {
			groups = strings.Join(dc.groups, ", ")
		}
		d.Reasons = []api.Reason{{Code: api.CodePolicyNoMatch,
			Message:     fmt.Sprintf("app %q is not in any policy for your groups (%s)", app, groups),
			Remediation: fmt.Sprintf("Ask an admin to give one of your groups access to %s", app)}}
		return d
	}
	var failed []api.Reason
	for _, i := range matched {
		reasons, done := dc.failing[i]
		if !done {
			reasons = dc.policyReasons(i)
			dc.failing[i] = reasons
		}
		if r, denied := dc.accessDenial(s.Policies[i], app); denied {
			reasons = append(slices.Clip(reasons), r)
		}
		if len(reasons) == 0 {
			d.Allowed = true
			d.Reasons = append([]api.Reason{{Code: api.CodePolicyAllow, Message: fmt.Sprintf("allowed by policy %q", s.Policies[i].Name)}},
				dc.waived[i]...)
			if NeedsApproval(s.Policies[i]) {
				d.AccessUntil = dc.in.Access[app].Until
			}
			return d
		}
		failed = appendNew(failed, reasons...)
	}
	d.Reasons = failed
	return d
}

// Checks runs every posture profile that any of user's policies requires,
// for `gatehouse posture`, knowing only the user and the posture: a
// profile condition reading anything else fails closed (ChecksFor has
// the whole input).
func (s *Snapshot) Checks(user string, posture *api.PostureReport) []api.CheckResult {
	return s.ChecksFor(Input{Identity: s.Identity(user), Posture: posture})
}

// ChecksFor runs every posture profile that any of in's user's policies
// requires (in.App is ignored), profile conditions included.
func (s *Snapshot) ChecksFor(in Input) []api.CheckResult {
	u := s.Users[in.Identity.User]
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
	return s.profileChecks(names, s.newDecider(in))
}

// Query is the union of extra facts the profiles ask of every agent.
func (s *Snapshot) Query() api.PostureQuery {
	var q api.PostureQuery
	for _, p := range s.Profiles {
		addQuery(&q, p)
	}
	sort.Strings(q.Processes)
	sort.Strings(q.Forbidden)
	sort.Strings(q.Files)
	return q
}

// Entitled lists, sorted, the apps user may ever be allowed: those named
// by a policy for one of their groups, whatever the posture. Only these
// are shown to the user's agents; any other app is denied on request.
func (s *Snapshot) Entitled(user string) []string {
	u, ok := s.Users[user]
	if !ok {
		return nil
	}
	seen := map[string]bool{}
	var names []string
	for _, p := range s.Policies {
		if !intersects(p.Groups, u.Groups) {
			continue
		}
		for _, a := range p.Apps {
			if _, ok := s.Apps[a]; ok && !seen[a] {
				seen[a] = true
				names = append(names, a)
			}
		}
	}
	sort.Strings(names)
	return names
}

// Entitles reports whether app is among Entitled(user).
func (s *Snapshot) Entitles(user, app string) bool {
	u, ok := s.Users[user]
	if _, exists := s.Apps[app]; !ok || !exists {
		return false
	}
	for _, p := range s.Policies {
		if slices.Contains(p.Apps, app) && intersects(p.Groups, u.Groups) {
			return true
		}
	}
	return false
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

// profileChecks runs the named profiles' checks, each profile's
// condition last, for dc's input.
func (s *Snapshot) profileChecks(names []string, dc *decider) []api.CheckResult {
	posture := dc.posture
	n := 0
	for _, name := range names {
		n += len(s.profileCheckList[name]) + 1
	}
	out := make([]api.CheckResult, 0, n)
	for _, name := range names {
		prof, ok := s.Profiles[name]
		if !ok {
			// A policy naming a missing profile fails closed.
			out = append(out, api.CheckResult{Profile: name, Check: "profile", Status: api.CheckFail,
				Reason: api.Reason{Code: api.CodePolicyMissingProfile,
					Message:     fmt.Sprintf("posture profile %q does not exist", name),
					Remediation: "Ask an admin to fix the policy"}})
			continue
		}
		cs, ok := s.profileCheckList[name]
		if !ok || len(s.profileCheckList) == 0 {
			cs = checksOf(prof) // not compiled: the same checks, made now
		}
		for _, c := range cs {
			r := c.run(posture)
			r.Profile = name
			out = append(out, r)
		}
		if prof.Condition != "" {
			out = append(out, dc.profileCondition(name, prof.Condition))
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
