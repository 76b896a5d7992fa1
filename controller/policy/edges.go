package policy

import (
	"slices"
	"time"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/overloads"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// Time edges: a decision whose conditions read the clock (request.time,
// the session's or second factor's age) or whose policy bounds a
// sign-in's age can change with nothing else changing. NextEdge says
// when it may next change, so the grant manager decides such a grant
// again at that moment instead of at its next renewal.

// coarseAccessors read a timestamp no finer than the minute: a condition
// using request.time only through them changes only on whole minutes
// (every zone's offset from UTC is whole minutes).
var coarseAccessors = []string{overloads.TimeGetFullYear, overloads.TimeGetMonth, overloads.TimeGetDayOfYear,
	overloads.TimeGetDayOfMonth, overloads.TimeGetDate, overloads.TimeGetDayOfWeek, overloads.TimeGetHours, overloads.TimeGetMinutes}

// conditionClock is how finely a checked condition's result may change
// with the time alone: 0 when it reads no clock, a minute when it reads
// request.time only through coarse accessors, else a second (an edge
// finer than a second is felt up to a second late).
func conditionClock(ast *cel.Ast) time.Duration {
	native := ast.NativeRep()
	coarse := map[int64]bool{} // ids of request.time read by a coarse accessor
	celast.PreOrderVisit(native.Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if e.Kind() != celast.CallKind {
			return
		}
		call := e.AsCall()
		if call.IsMemberFunction() && slices.Contains(coarseAccessors, call.FunctionName()) {
			coarse[call.Target().ID()] = true
		}
	}))
	var step time.Duration
	for id, ref := range native.ReferenceMap() {
		switch ref.Name {
		case "user.mfa_age_seconds", "user.session_age_seconds":
			return time.Second
		case "request.time":
			if !coarse[id] {
				return time.Second
			}
			step = time.Minute
		}
	}
	return step
}

// compileEdges sets each policy's edge step: the finest clock among its
// condition and its profiles' conditions. Compile calls it.
func (s *Snapshot) compileEdges() {
	s.edgeSteps = make([]time.Duration, len(s.Policies))
	for i, p := range s.Policies {
		step := s.conditions[i].clock
		for _, n := range p.PostureProfiles {
			if c := s.profileConds[n].clock; c > 0 && (step == 0 || c < step) {
				step = c
			}
		}
		s.edgeSteps[i] = step
	}
}

// NextEdge is the first moment after in.Time at which the decision on
// in.App may change with the time alone: the next tick of the finest
// clock a condition of a policy giving the app reads, or the moment a
// policy's MFA or session age runs out. Zero: it never does.
func (s *Snapshot) NextEdge(in Input) time.Time {
	return s.nextEdge(in, func(p api.Policy) bool { return slices.Contains(p.Apps, in.App) })
}

// DecisionsEdge is NextEdge for the decisions on apps together (in.App
// is ignored): the earliest moment one of them may change.
func (s *Snapshot) DecisionsEdge(in Input, apps []string) time.Time {
	return s.nextEdge(in, func(p api.Policy) bool {
		for _, a := range p.Apps {
			if slices.Contains(apps, a) {
				return true
			}
		}
		return false
	})
}

// nextEdge is the next edge of the policies of in's groups that gives.
func (s *Snapshot) nextEdge(in Input, gives func(api.Policy) bool) time.Time {
	var next time.Time
	earliest := func(t time.Time) {
		if t.After(in.Time) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for i, p := range s.Policies {
		if i >= len(s.edgeSteps) || !intersects(p.Groups, in.Identity.Groups) || !gives(p) {
			continue // (never compiled: it denies, and stays so)
		}
		if step := s.edgeSteps[i]; step > 0 {
			earliest(in.Time.Truncate(step).Add(step))
		}
		if sess := in.Session; sess != nil {
			// signInDenial denies once the age is over the limit.
			if d := time.Duration(p.MFAMaxAge); d > 0 && !sess.MFAAt.IsZero() {
				earliest(sess.MFAAt.Add(d + time.Nanosecond))
			}
			if d := time.Duration(p.SessionMaxAge); d > 0 {
				earliest(sess.AuthAt.Add(d + time.Nanosecond))
			}
		}
	}
	return next
}
