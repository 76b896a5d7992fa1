package controller

import "fmt"

// ActorKind is how an actor proved who it is.
type ActorKind string

// The actors there are today. Issue 7 adds users (signed in through the
// browser) and their API tokens, with roles.
const (
	// ActorAdminToken is whoever holds the admin bearer token.
	ActorAdminToken ActorKind = "admin_token"
	// ActorEnrollmentToken is a device or gateway spending a single-use
	// enrollment token; Name is what it enrolled as.
	ActorEnrollmentToken ActorKind = "enrollment_token"
)

// Actor is who asks the core for an operation. Every admin operation takes
// one, refuses it with ErrForbidden unless it may, and names it in the
// Change it returns, so the audit log can say who did what. The zero Actor
// is nobody and may do nothing.
type Actor struct {
	Kind ActorKind
	// Name tells actors of one kind apart (the admin token has one).
	Name string
}

// AdminTokenActor is the admin token's actor.
var AdminTokenActor = Actor{Kind: ActorAdminToken, Name: "admin"}

func (a Actor) String() string {
	if a.Kind == "" {
		return "nobody"
	}
	return fmt.Sprintf("%s %s", a.Kind, a.Name)
}

// mayAdminister refuses anyone but an administrator.
func (a Actor) mayAdminister() error {
	if a.Kind != ActorAdminToken {
		return fmt.Errorf("%w: %s may not administer the controller", ErrForbidden, a)
	}
	return nil
}
