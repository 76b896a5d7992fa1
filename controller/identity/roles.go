package identity

import (
	"fmt"
	"slices"
)

// Role is an admin role. A user or API token without one is no admin.
type Role string

const (
	// Owner may do everything, including granting roles.
	Owner Role = "owner"
	// Admin may change everything but roles; it issues API tokens up to
	// its own role.
	Admin Role = "admin"
	// Auditor reads everything and changes nothing.
	Auditor Role = "auditor"
	// Helpdesk reads and changes devices and sessions only: approves and
	// blocks devices, ends sessions, clears a user's sign-in backoff.
	Helpdesk Role = "helpdesk"
)

// Roles lists the roles from the most to the least powerful.
var Roles = []Role{Owner, Admin, Auditor, Helpdesk}

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	if r := Role(s); slices.Contains(Roles, r) {
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q: use one of owner, admin, auditor, helpdesk", s)
}

// Area is a part of the admin API that permissions are granted on.
type Area string

// The areas of the admin API.
const (
	AreaUsers      Area = "users"      // users and groups
	AreaApps       Area = "apps"       // apps
	AreaPolicies   Area = "policies"   // access policies, posture profiles, exceptions
	AreaGateways   Area = "gateways"   // gateways and their enrollment tokens
	AreaEnrollment Area = "enrollment" // device enrollment tokens
	AreaSettings   Area = "settings"   // controller settings (e.g. new devices need approval)
	AreaDevices    Area = "devices"    // device approval, blocking, names and tags
	AreaSessions   Area = "sessions"   // sign-in sessions and sign-in backoff
	AreaAdmins     Area = "admins"     // roles and API tokens
	AreaAudit      Area = "audit"      // the audit log (read only, for everyone)
)

// Areas lists every area.
var Areas = []Area{AreaUsers, AreaApps, AreaPolicies, AreaGateways, AreaEnrollment, AreaSettings,
	AreaDevices, AreaSessions, AreaAdmins, AreaAudit}

// Verb is what a permission allows in an area.
type Verb string

const (
	Read  Verb = "read"
	Write Verb = "write"
)

// Permission is one verb on one area.
type Permission struct {
	Area Area
	Verb Verb
}

// Allowed is the roles matrix (docs/identity.md): whether role r has
// permission p. Unknown roles and areas have nothing.
func Allowed(r Role, p Permission) bool {
	if !slices.Contains(Areas, p.Area) || (p.Verb != Read && p.Verb != Write) {
		return false
	}
	if p.Area == AreaAudit && p.Verb == Write {
		return false // the audit log is append-only, written by the controller alone
	}
	switch r {
	case Owner:
		return true
	case Admin:
		return p.Area != AreaAdmins || p.Verb == Read
	case Auditor:
		return p.Verb == Read
	case Helpdesk:
		return p.Area == AreaDevices || p.Area == AreaSessions
	}
	return false
}

// CanIssue says whether an issuer holding role issuer may create an API
// token with role r: owners any, admins up to admin, others none.
func CanIssue(issuer, r Role) bool {
	switch issuer {
	case Owner:
		return slices.Contains(Roles, r)
	case Admin:
		return r == Admin || r == Auditor || r == Helpdesk
	}
	return false
}

// PrincipalKind says how a principal authenticated.
type PrincipalKind string

const (
	// PrincipalUser: a signed-in user with MFA.
	PrincipalUser PrincipalKind = "user"
	// PrincipalToken: an API token.
	PrincipalToken PrincipalKind = "token"
	// PrincipalBootstrap: the controller's bootstrap token, before the
	// first owner exists.
	PrincipalBootstrap PrincipalKind = "bootstrap"
)

// Principal is who makes an admin request, with their role.
type Principal struct {
	Kind PrincipalKind
	Name string // user name or token name
	Role Role
}

// String is how events and the audit log name the principal: "user:alice".
func (p Principal) String() string { return string(p.Kind) + ":" + p.Name }

// Can returns nil if p's role has perm, else ErrForbidden saying who may.
func (p Principal) Can(perm Permission) error {
	if Allowed(p.Role, perm) {
		return nil
	}
	return fmt.Errorf("%w: %s (role %q) may not %s %s; ask an owner or an admin", ErrForbidden, p, p.Role, perm.Verb, perm.Area)
}
