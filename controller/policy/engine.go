package policy

import (
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// Engine decides access. Everything a decision depends on is in its one
// Input, so a new kind of fact (claims, device tags, time windows) is a
// new field, not a new parameter on every caller.
type Engine interface {
	// Evaluate decides in.App for in's identity on in's device at in.Time.
	// It never fails: a decision it cannot make is a denial with reasons.
	// The order: the user is not disabled, the device is approved, an
	// interactive device has a session, then for each policy giving the
	// app its sign-in needs and then its posture profiles.
	Evaluate(in Input) api.Decision
}

var _ Engine = (*Snapshot)(nil)

// Input is one question to the Engine.
type Input struct {
	Identity Identity
	Device   Device
	// Session is the signed-in session on the device; nil when there is
	// none (never signed in, or it ended).
	Session *Session
	// Posture is the device's latest trusted report; nil (none, or too
	// old) fails every posture check.
	Posture *api.PostureReport
	App     string
	Time    time.Time
	// SourceIP is the address the request came from; "" when unknown
	// (a condition reading request.source_ip then denies).
	SourceIP string
	// Access is the user's just-in-time access by app (access.go): a
	// policy with approvers gives an app only while it has Until ahead.
	Access map[string]Access
}

// Identity is who is asking, as the identity source says.
type Identity struct {
	User string
	// Disabled: an admin disabled the user; nothing is allowed.
	Disabled bool
	Groups   []string
	// Claims are the identity provider's claims at the user's last
	// upstream sign-in or refresh (user.claims); empty for a user of the
	// built-in store.
	Claims map[string]string
}

// Device approval states (Device.State), as the identity room stores them.
const (
	DeviceApproved = "approved"
	DevicePending  = "pending"
	DeviceBlocked  = "blocked"
)

// Device is the device asking.
type Device struct {
	ID string
	// State is DeviceApproved, DevicePending or DeviceBlocked; any other
	// value (unknown) is treated as pending: it fails closed.
	State string
	// Interactive: someone signed in on the device once, so every grant
	// needs a live Session (docs/identity.md "Wiring"). A device acting on
	// its enrollment credential alone is not interactive.
	Interactive bool
	// Tags an admin gave the device (conditions read device.tags).
	Tags []string
}

// Session is what a decision needs of a signed-in session.
type Session struct {
	Methods []string  // RFC 8176 amr values: pwd, otp, hwk, fed
	AuthAt  time.Time // when the user last proved who they are
	MFAAt   time.Time // when a second factor was last used; zero: none
}

// Identity is user as the store knows them: groups, and the claims of
// their identity provider; a user the store lacks has no groups (and
// Evaluate denies with user.unknown).
func (s *Snapshot) Identity(user string) Identity {
	u := s.Users[user]
	return Identity{User: user, Groups: u.Groups, Claims: s.Claims[user]}
}

// Evaluate implements Engine: the user must exist in the snapshot and be
// enabled, the device approved, and a policy naming one of the identity's
// groups must pass (sign-in needs, then posture).
func (s *Snapshot) Evaluate(in Input) api.Decision {
	return s.newDecider(in).decide(in.App, nil)
}
