package policy

import (
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// Exceptions waive named posture checks (api.Exception.Checks, the
// CheckResult.Check names) for one user or one device until they expire.
// A failing or unknown check an exception in force names becomes
// api.CheckWaived, which passes; at its ExpiresAt (compared with
// Input.Time, never stored state) it stops applying on its own. Nothing
// else is waivable: identity, sign-in needs, conditions and a missing
// profile always decide.

// waiverIndex finds a snapshot's exceptions by user and by device.
type waiverIndex struct {
	byUser, byDevice map[string][]int // indexes into Snapshot.Exceptions
}

// notWaivable are check names no exception may name: a policy naming a
// profile that does not exist is an admin's mistake, not a device's.
var notWaivable = []string{"profile"}

// Waivable reports whether an exception may name check.
func Waivable(check string) bool { return !slices.Contains(notWaivable, check) }

func (s *Snapshot) indexExceptions() {
	s.waivers = waiverIndex{}
	for i, e := range s.Exceptions {
		switch {
		case e.User != "":
			if s.waivers.byUser == nil {
				s.waivers.byUser = map[string][]int{}
			}
			s.waivers.byUser[e.User] = append(s.waivers.byUser[e.User], i)
		case e.Device != "":
			if s.waivers.byDevice == nil {
				s.waivers.byDevice = map[string][]int{}
			}
			s.waivers.byDevice[e.Device] = append(s.waivers.byDevice[e.Device], i)
		}
	}
}

// ExceptionsFor are the exceptions naming user or device, expired ones
// too, in the snapshot's order.
func (s *Snapshot) ExceptionsFor(user, device string) []api.Exception {
	var out []api.Exception
	for _, i := range s.waivers.byUser[user] {
		out = append(out, s.Exceptions[i])
	}
	if device != "" {
		for _, i := range s.waivers.byDevice[device] {
			out = append(out, s.Exceptions[i])
		}
	}
	return out
}

// waiverFor is the exception in force at now for user or device that
// names check, the one lasting longest when several do.
func (s *Snapshot) waiverFor(user, device, check string, now time.Time) (api.Exception, bool) {
	var best api.Exception
	found := false
	consider := func(idx []int) {
		for _, i := range idx {
			e := s.Exceptions[i]
			if inForce(e, now) && slices.Contains(e.Checks, check) && (!found || e.ExpiresAt.After(best.ExpiresAt)) {
				best, found = e, true
			}
		}
	}
	consider(s.waivers.byUser[user])
	if device != "" {
		consider(s.waivers.byDevice[device])
	}
	return best, found
}

// inForce reports whether e applies at now: it lasts until, not through,
// its ExpiresAt.
func inForce(e api.Exception, now time.Time) bool { return now.Before(e.ExpiresAt) }

// WaiveChecks turns each failing or unknown check of cs that an
// exception in force at now for user or device names into CheckWaived,
// in place, and returns cs. A check that still fails while an expired
// exception names it says so.
func (s *Snapshot) WaiveChecks(user, device string, now time.Time, cs []api.CheckResult) []api.CheckResult {
	if len(s.Exceptions) == 0 {
		return cs
	}
	for i := range cs {
		c := &cs[i]
		if c.Status == api.CheckPass || c.Status == api.CheckWaived || !Waivable(c.Check) {
			continue
		}
		if e, ok := s.waiverFor(user, device, c.Check, now); ok {
			c.Status, c.WaivedUntil = api.CheckWaived, e.ExpiresAt
			c.Reason.Message = WaivedMessage(c.Check, e) + ": " + c.Reason.Message
			continue
		}
		if e, ok := s.lastExpired(user, device, c.Check, now); ok {
			c.Reason.Message += fmt.Sprintf(" (its exception %s expired at %s)", e.ID, e.ExpiresAt.UTC().Format(waiverTime))
		}
	}
	return cs
}

// lastExpired is the exception for user or device naming check that
// expired last before now.
func (s *Snapshot) lastExpired(user, device, check string, now time.Time) (api.Exception, bool) {
	var last api.Exception
	found := false
	for _, e := range s.ExceptionsFor(user, device) {
		if !inForce(e, now) && slices.Contains(e.Checks, check) && (!found || e.ExpiresAt.After(last.ExpiresAt)) {
			last, found = e, true
		}
	}
	return last, found
}

// waiverTime is how an exception's expiry reads to a user.
const waiverTime = "2006-01-02 15:04 UTC"

// WaivedMessage is what a user sees of check waived by e: "firewall check
// waived until 2026-12-31 12:00 UTC (owner: it-sec, reason: …)".
func WaivedMessage(check string, e api.Exception) string {
	return fmt.Sprintf("%s check waived until %s (owner: %s, reason: %s)", check, e.ExpiresAt.UTC().Format(waiverTime), e.Owner, e.Reason)
}

// waivedReasons are an allowing decision's notes of the checks it passed
// only by an exception: the user sees them in `gatehouse apps`.
func waivedReasons(cs []api.CheckResult) []api.Reason {
	var out []api.Reason
	for _, c := range cs {
		if c.Status == api.CheckWaived {
			out = append(out, api.Reason{Code: api.CodeExceptionWaived, Message: c.Reason.Message, Remediation: c.Reason.Remediation})
		}
	}
	return out
}

// NextExpiry is the earliest expiry after now of the snapshot's
// exceptions: the controller re-decides then, so grants an exception
// carried end when it does. ok is false when none is in force.
func (s *Snapshot) NextExpiry(now time.Time) (next time.Time, ok bool) {
	for _, e := range s.Exceptions {
		if inForce(e, now) && (!ok || e.ExpiresAt.Before(next)) {
			next, ok = e.ExpiresAt, true
		}
	}
	return next, ok
}
