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
	Evaluate(in Input) api.Decision
}

var _ Engine = (*Snapshot)(nil)

// Input is one question to the Engine.
type Input struct {
	Identity Identity
	Device   Device
	// Posture is the device's latest trusted report; nil (none, or too
	// old) fails every posture check.
	Posture *api.PostureReport
	App     string
	Time    time.Time
}

// Identity is who is asking, as the identity source says.
type Identity struct {
	User   string
	Groups []string
	// Claims are the identity provider's other claims (empty for the
	// built-in user store); no rule reads them yet.
	Claims map[string]string
}

// Device is the device asking.
type Device struct {
	ID string
}

// Identity is user as the built-in user store knows them; a user the
// store lacks has no groups (and Evaluate denies with user.unknown).
func (s *Snapshot) Identity(user string) Identity {
	u := s.Users[user]
	return Identity{User: user, Groups: u.Groups}
}

// Evaluate implements Engine: the user must exist in the snapshot, and
// the policies that name one of the identity's groups decide.
func (s *Snapshot) Evaluate(in Input) api.Decision {
	return s.newDecider(in.Identity, in.Posture, in.Time).decide(in.App, nil)
}
