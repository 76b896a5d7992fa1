package controller

import (
	"fmt"

	"github.com/gatehouse-ztna/gatehouse/controller/identity"
)

// ActorKind is how an actor proved who it is: identity's principal kinds,
// and the enrollment token.
type ActorKind = identity.PrincipalKind

// The actors there are.
const (
	// ActorUser is a signed-in admin (not accepted by the admin API yet:
	// docs/identity.md "Admins").
	ActorUser = identity.PrincipalUser
	// ActorAPIToken is an admin API token (ghk_…), with its role.
	ActorAPIToken = identity.PrincipalToken
	// ActorBootstrap is whoever holds the controller's bootstrap token: it
	// may create the first owner (and replace itself) before one exists,
	// and nothing else.
	ActorBootstrap = identity.PrincipalBootstrap
	// ActorEnrollmentToken is a device or gateway spending a single-use
	// enrollment token; Name is what it enrolled as.
	ActorEnrollmentToken ActorKind = "enrollment"
)

// Actor is who asks the core for an operation. Every admin operation takes
// one, refuses it with ErrForbidden unless its role allows the operation's
// area and verb (identity.Allowed, docs/identity.md "Roles"), and names it
// in the Change it returns, so the audit log can say who did what. The
// zero Actor is nobody and may do nothing.
type Actor struct {
	Kind ActorKind
	// Name tells actors of one kind apart: a user's or token's name.
	Name string
	// Role is what the actor may do; the bootstrap token and enrollment
	// tokens have none.
	Role identity.Role
}

// BootstrapActor is the bootstrap token's actor.
var BootstrapActor = Actor{Kind: ActorBootstrap, Name: "bootstrap"}

// ActorOf is the actor of an identity principal.
func ActorOf(p identity.Principal) Actor { return Actor{Kind: p.Kind, Name: p.Name, Role: p.Role} }

// Principal is a as identity names it.
func (a Actor) Principal() identity.Principal {
	return identity.Principal{Kind: a.Kind, Name: a.Name, Role: a.Role}
}

// String is how changes and the audit log name the actor: "user:alice",
// "token:ci", "bootstrap:bootstrap".
func (a Actor) String() string {
	if a.Kind == "" {
		return "nobody"
	}
	return a.Principal().String()
}

// may refuses a unless its role allows verb on area.
func (a Actor) may(area identity.Area, verb identity.Verb) error {
	if a.Kind == ActorBootstrap {
		return fmt.Errorf("%w: the bootstrap token may only create the first owner (gatehouse admin bootstrap); "+
			"then use an owner's API token (gatehouse admin api-tokens create)", ErrForbidden)
	}
	if a.Kind == "" || a.Kind == ActorEnrollmentToken {
		return fmt.Errorf("%w: %s may not %s %s", ErrForbidden, a, verb, area)
	}
	return a.Principal().Can(identity.Permission{Area: area, Verb: verb})
}

// mayRead and mayWrite are may with the verb spelled out.
func (a Actor) mayRead(area identity.Area) error  { return a.may(area, identity.Read) }
func (a Actor) mayWrite(area identity.Area) error { return a.may(area, identity.Write) }
