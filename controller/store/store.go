// Package store is the controller's durable state — users, groups, apps,
// posture profiles, policies, enrollment tokens, devices and the admin token
// hash — behind the Store interface, with SQLite as the default
// implementation. Standalone gateways (GatewayStore) and identity —
// accounts, roles, sign-in sessions, API tokens, device approval
// (IdentityStore) — sit behind interfaces of their own. Hot state (agent links, grants, latest posture) is not here:
// the controller keeps it in memory and writes through.
//
// Imported only by controller packages.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// Errors returned by Store methods, always wrapped with the object's name;
// test with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")

	ErrTokenUnknown = errors.New("enrollment token unknown")
	ErrTokenExpired = errors.New("enrollment token expired")
	ErrTokenUsed    = errors.New("enrollment token already used")

	// ErrSchemaTooNew means the database was migrated by a newer controller
	// than this one; Open refuses it rather than guess at its tables.
	ErrSchemaTooNew = errors.New("database schema is newer than this controller")
)

// Store is the controller's persistent state. Names (and IDs) are
// case-sensitive primary keys. Methods are safe for concurrent use. List
// methods return objects sorted by name (or ID) and list-valued fields are
// never nil on read.
type Store interface {
	// CreateUser stores u and its membership of u.Groups, creating any of
	// those groups that do not exist yet. ErrExists if u.Name is taken.
	CreateUser(ctx context.Context, u api.User) error
	// UpdateUser replaces the email and group membership of u.Name
	// (creating missing groups as CreateUser does). ErrNotFound if absent.
	UpdateUser(ctx context.Context, u api.User) error
	// GetUser returns the user with Groups sorted. ErrNotFound if absent.
	GetUser(ctx context.Context, name string) (api.User, error)
	// DeleteUser deletes the user with its memberships, enrollment tokens
	// and devices. ErrNotFound if absent.
	DeleteUser(ctx context.Context, name string) error
	// ListUsers returns all users sorted by name, each with Groups sorted.
	ListUsers(ctx context.Context) ([]api.User, error)

	// AddMember puts user in group; adding an existing member is a no-op.
	// ErrNotFound if the group or the user is missing.
	AddMember(ctx context.Context, group, user string) error
	// RemoveMember takes user out of group. ErrNotFound if not a member.
	RemoveMember(ctx context.Context, group, user string) error

	// CreateGroup stores an empty group (g.Members is ignored). ErrExists if
	// g.Name is taken.
	CreateGroup(ctx context.Context, g api.Group) error
	// GetGroup returns the group with Members sorted. ErrNotFound if absent.
	GetGroup(ctx context.Context, name string) (api.Group, error)
	// DeleteGroup deletes the group and its memberships (not the users).
	// ErrNotFound if absent.
	DeleteGroup(ctx context.Context, name string) error
	// ListGroups returns all groups sorted by name, each with Members sorted.
	ListGroups(ctx context.Context) ([]api.Group, error)

	// CreateApp stores a. ErrExists if a.Name is taken.
	CreateApp(ctx context.Context, a api.App) error
	// UpdateApp replaces the app named a.Name. ErrNotFound if absent.
	UpdateApp(ctx context.Context, a api.App) error
	// GetApp returns the app. ErrNotFound if absent.
	GetApp(ctx context.Context, name string) (api.App, error)
	// DeleteApp deletes the app. ErrNotFound if absent.
	DeleteApp(ctx context.Context, name string) error
	// ListApps returns all apps sorted by name.
	ListApps(ctx context.Context) ([]api.App, error)

	// CreateProfile stores p. ErrExists if p.Name is taken.
	CreateProfile(ctx context.Context, p api.PostureProfile) error
	// UpdateProfile replaces the profile named p.Name. ErrNotFound if absent.
	UpdateProfile(ctx context.Context, p api.PostureProfile) error
	// GetProfile returns the posture profile. ErrNotFound if absent.
	GetProfile(ctx context.Context, name string) (api.PostureProfile, error)
	// DeleteProfile deletes the profile. ErrNotFound if absent.
	DeleteProfile(ctx context.Context, name string) error
	// ListProfiles returns all posture profiles sorted by name.
	ListProfiles(ctx context.Context) ([]api.PostureProfile, error)

	// CreatePolicy stores p. Its groups, apps and profiles are names, not
	// checked here. ErrExists if p.Name is taken.
	CreatePolicy(ctx context.Context, p api.Policy) error
	// UpdatePolicy replaces the policy named p.Name. ErrNotFound if absent.
	UpdatePolicy(ctx context.Context, p api.Policy) error
	// GetPolicy returns the policy. ErrNotFound if absent.
	GetPolicy(ctx context.Context, name string) (api.Policy, error)
	// DeletePolicy deletes the policy. ErrNotFound if absent.
	DeletePolicy(ctx context.Context, name string) error
	// ListPolicies returns all policies sorted by name.
	ListPolicies(ctx context.Context) ([]api.Policy, error)

	// CreateEnrollmentToken stores t under secretHash, the hash of its
	// secret; t.Token itself is never stored. ErrNotFound if t.User does not
	// exist, ErrExists if t.ID is taken.
	CreateEnrollmentToken(ctx context.Context, t api.EnrollmentToken, secretHash string) error
	// ListEnrollmentTokens returns all tokens sorted by ID, Token empty.
	ListEnrollmentTokens(ctx context.Context) ([]api.EnrollmentToken, error)
	// DeleteEnrollmentToken deletes the token so that it cannot enroll a
	// device any more (devices it enrolled stay). ErrNotFound if absent.
	DeleteEnrollmentToken(ctx context.Context, id string) error

	// EnrollDevice, in one transaction, finds the token whose hash is
	// secretHash — ErrTokenUnknown if none, ErrTokenUsed if already used,
	// ErrTokenExpired if expired at now — marks it used and stores dev with
	// dev.User set to the token's user (an empty dev.ID gets a random one,
	// a zero dev.EnrolledAt becomes now), pending if new devices need
	// approval (IdentityStore), else approved. It returns the device as stored.
	// On any error nothing changes; ErrExists if dev.ID is taken.
	EnrollDevice(ctx context.Context, secretHash string, now time.Time, dev api.Device) (api.Device, error)
	// EnrollSignedIn, in one transaction, stores dev for dev.User, whom a
	// sign-in proved (the device flow; no token is spent), as EnrollDevice
	// does: pending if new devices need approval, else approved.
	// ErrNotFound if the user does not exist, ErrUserDisabled if disabled,
	// ErrExists if dev.ID is taken; on any error nothing changes.
	EnrollSignedIn(ctx context.Context, now time.Time, dev api.Device) (api.Device, error)
	// GetDevice returns the device; Online and Posture are never stored and
	// come back zero. ErrNotFound if absent.
	GetDevice(ctx context.Context, id string) (api.Device, error)
	// ListDevices returns all devices sorted by ID.
	ListDevices(ctx context.Context) ([]api.Device, error)
	// DeleteDevice deletes the device. ErrNotFound if absent.
	DeleteDevice(ctx context.Context, id string) error

	// AdminTokenHash returns the stored hash of the admin token (only the
	// hash is ever stored). ErrNotFound when none has been set yet.
	AdminTokenHash(ctx context.Context) (hash string, err error)
	// SetAdminTokenHash sets or replaces the admin token hash.
	SetAdminTokenHash(ctx context.Context, hash string) error

	// Close releases the database; the Store is unusable afterwards.
	Close() error
}
