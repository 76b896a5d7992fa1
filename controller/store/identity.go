package store

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// Errors of IdentityStore methods, wrapped with the object's name; test
// with errors.Is.
var (
	// ErrSessionRevoked: the session was ended (logout, an admin, a
	// disabled user, a blocked device, token theft).
	ErrSessionRevoked = errors.New("session revoked")
	// ErrSessionExpired: the token's or the session's lifetime is over.
	ErrSessionExpired = errors.New("session expired")
	// ErrWrongDevice: a token was presented by a device other than the one
	// it is bound to; the session is revoked.
	ErrWrongDevice = errors.New("token bound to another device")
	// ErrRefreshReused: a refresh token the session had already rotated
	// away from came back; the session is revoked.
	ErrRefreshReused = errors.New("refresh token reused")
	// ErrUserDisabled: the user is disabled and may not sign in.
	ErrUserDisabled = errors.New("user disabled")
	// ErrDeviceBlocked: the device is blocked and may not sign in.
	ErrDeviceBlocked = errors.New("device blocked")
	// ErrReplayed: a TOTP step at or before the last one accepted.
	ErrReplayed = errors.New("already used")
	// ErrChanged: a compare-and-set found another value than expected.
	ErrChanged = errors.New("changed meanwhile")
	// ErrLastOwner: the change would leave no owner.
	ErrLastOwner = errors.New("last owner")
	// ErrBootstrapDone: the first owner exists already.
	ErrBootstrapDone = errors.New("bootstrap already done")
)

// Why the store revoked a session (Session.RevokeReason); callers of
// RevokeSession and RevokeUserSessions give their own.
const (
	ReasonRefreshReused = "refresh_reused"
	ReasonWrongDevice   = "wrong_device"
	ReasonUserDisabled  = "user_disabled"
	ReasonDeviceBlocked = "device_blocked"
	// ReasonPasswordChanged: the user's password changed; every other
	// session of theirs ends (whoever knew the old one is out).
	ReasonPasswordChanged = "password_changed"
)

// Device approval states, stored in devices.state.
const (
	DevicePending  = "pending"
	DeviceApproved = "approved"
	DeviceBlocked  = "blocked"
)

// Account is a user's identity state: built-in credentials, admin role and
// whether the user is disabled. A user without any has the zero Account
// (with User set).
type Account struct {
	User         string
	Role         string    // "" when the user is no admin
	DisabledAt   time.Time // zero while enabled
	PasswordHash string    // argon2id PHC string; "" when the user has no password
	TOTPSecret   string    // base32 seed of the confirmed TOTP; "" when none
	TOTPPending  string    // seed being enrolled, not yet confirmed by a code
	TOTPLastStep int64     // the last TOTP step accepted
}

// Session is a user's sign-in session on one device. Its tokens are not
// here: the store keeps only their hashes.
type Session struct {
	ID      string
	User    string
	Device  string   // the only device its tokens are accepted from
	Methods []string // how the user proved who they are (amr: pwd, otp, webauthn, oidc and an IdP's)
	AuthAt  time.Time
	MFAAt   time.Time // zero without a second factor

	CreatedAt        time.Time
	ExpiresAt        time.Time // no refresh past it, whatever the refresh token says
	AccessExpiresAt  time.Time
	RefreshExpiresAt time.Time
	Generation       int       // 1 at creation, +1 per refresh
	RefreshedAt      time.Time // zero before the first refresh

	RevokedAt    time.Time // zero while live
	RevokeReason string
}

// TokenSet is the hashes and lifetimes of one access and refresh token.
type TokenSet struct {
	AccessHash       string
	AccessExpiresAt  time.Time
	RefreshHash      string
	RefreshExpiresAt time.Time
}

// APIToken is an admin API token for automation; its secret is stored
// only as a hash.
type APIToken struct {
	ID        string
	Name      string
	Role      string
	CreatedBy string
	CreatedAt time.Time
	ExpiresAt time.Time
	RevokedAt time.Time // zero while live
}

// DeviceRecord is what identity keeps about a device: its owner, how it
// is called and tagged, whether an admin approved it, when it was seen.
type DeviceRecord struct {
	ID        string
	Owner     string
	Name      string
	Hostname  string
	Tags      []string
	State     string    // DevicePending, DeviceApproved or DeviceBlocked
	FirstSeen time.Time // its enrollment
	LastSeen  time.Time // zero if never seen after enrollment
	// Interactive: someone signed in on the device, so every grant needs
	// a live session on it (docs/identity.md "Wiring").
	Interactive bool
}

// IdentityStore is the durable state of the controller's identity room.
// *SQLite implements it; it is apart from Store so that other Store
// implementations need not. Each method is one transaction.
type IdentityStore interface {
	// Account returns user's account (the zero Account with User set when
	// it has none). ErrNotFound if the user does not exist.
	Account(ctx context.Context, user string) (Account, error)
	// ListAdmins returns the accounts that hold a role, sorted by user.
	ListAdmins(ctx context.Context) ([]Account, error)
	// SetPasswordHash sets user's password hash. ErrNotFound if no user.
	SetPasswordHash(ctx context.Context, user, hash string) error
	// ChangePassword sets user's password hash and, in the same
	// transaction, revokes every live session of user but keep
	// (ReasonPasswordChanged), returning those. ErrNotFound if no user.
	ChangePassword(ctx context.Context, user, hash, keep string, now time.Time) ([]Session, error)
	// ReplacePasswordHash sets user's password hash to newHash only if it
	// is still oldHash (a rehash must not undo a password change).
	// ErrChanged otherwise.
	ReplacePasswordHash(ctx context.Context, user, oldHash, newHash string) error
	// SetPendingTOTP stores secret as the TOTP seed being enrolled,
	// replacing any earlier pending one; a confirmed seed stays in force.
	SetPendingTOTP(ctx context.Context, user, secret string) error
	// ConfirmTOTP makes the pending seed, if it is still secret, the
	// user's TOTP, with step as the last step used. ErrChanged otherwise.
	ConfirmTOTP(ctx context.Context, user, secret string, step int64) error
	// RemoveTOTP removes the user's confirmed and pending TOTP.
	RemoveTOTP(ctx context.Context, user string) error
	// UseTOTPStep records step as used. ErrReplayed if the user's last
	// used step is step or later, so two logins cannot spend one code.
	UseTOTPStep(ctx context.Context, user string, step int64) error
	// SetRole gives user role ("" for none). ErrLastOwner if that leaves
	// no account with role owner.
	SetRole(ctx context.Context, user, role string) error
	// BootstrapDone says whether Bootstrap ran or an owner exists.
	BootstrapDone(ctx context.Context) (bool, error)
	// Bootstrap creates u (if absent) with passwordHash and role owner,
	// once: ErrBootstrapDone if it ran before or an owner exists.
	Bootstrap(ctx context.Context, u api.User, passwordHash string) error
	// DisableUser marks user disabled at now and revokes its live sessions
	// (ReasonUserDisabled), returning those. ErrNotFound if no user.
	DisableUser(ctx context.Context, user string, now time.Time) ([]Session, error)
	// EnableUser clears the disabled mark. ErrNotFound if no user.
	EnableUser(ctx context.Context, user string) error

	// CreateSession stores s with the hashes of its first tokens.
	// ErrNotFound if the user does not exist, ErrUserDisabled if it is
	// disabled, ErrDeviceBlocked if s.Device is a blocked device. An
	// enrolled s.Device becomes interactive (DeviceRecord.Interactive).
	CreateSession(ctx context.Context, s Session, tokens TokenSet) error
	// SessionByAccess returns the session whose current access token has
	// hash accessHash, whatever its state. ErrNotFound if none.
	SessionByAccess(ctx context.Context, accessHash string) (Session, error)
	// GetSession returns the session by ID. ErrNotFound if absent.
	GetSession(ctx context.Context, id string) (Session, error)
	// RotateRefresh spends the refresh token with hash refreshHash,
	// presented by device at now, and gives its session next as tokens.
	// ErrNotFound for an unknown token; ErrSessionRevoked for a revoked
	// session; ErrWrongDevice (revoking the session) when device is not
	// the session's; ErrSessionExpired when the refresh token or the
	// session has expired; ErrRefreshReused (revoking it: ReasonRefreshReused) for a
	// token spent before. next's lifetimes are capped at the session's
	// ExpiresAt. On ErrWrongDevice and ErrRefreshReused the session
	// returned is the one just revoked; otherwise the refreshed one.
	RotateRefresh(ctx context.Context, refreshHash, device string, now time.Time, next TokenSet) (Session, error)
	// RevokeSession revokes session id at now with reason; it returns the
	// session if this revoked it, nothing if it was revoked already.
	// ErrNotFound if absent.
	RevokeSession(ctx context.Context, id string, now time.Time, reason string) ([]Session, error)
	// RevokeUserSessions revokes every live session of user and returns them.
	RevokeUserSessions(ctx context.Context, user string, now time.Time, reason string) ([]Session, error)
	// ListSessions returns user's sessions, live or not, sorted by ID.
	ListSessions(ctx context.Context, user string) ([]Session, error)
	// ListAllSessions returns every user's sessions, live or not, sorted by ID.
	ListAllSessions(ctx context.Context) ([]Session, error)
	// PurgeSessions deletes sessions that expired or were revoked before
	// t, with their spent refresh tokens; it returns how many.
	PurgeSessions(ctx context.Context, before time.Time) (int, error)

	// CreateAPIToken stores t under secretHash. ErrExists if t.ID is taken
	// or a live token has t.Name.
	CreateAPIToken(ctx context.Context, t APIToken, secretHash string) error
	// APITokenByHash returns the token with secretHash, whatever its
	// state. ErrNotFound if none.
	APITokenByHash(ctx context.Context, secretHash string) (APIToken, error)
	// ListAPITokens returns all API tokens sorted by ID.
	ListAPITokens(ctx context.Context) ([]APIToken, error)
	// RevokeAPIToken revokes token id at now (a no-op if revoked).
	// ErrNotFound if absent.
	RevokeAPIToken(ctx context.Context, id string, now time.Time) error

	// DeviceRecord returns the device. ErrNotFound if absent.
	DeviceRecord(ctx context.Context, id string) (DeviceRecord, error)
	// ListDeviceRecords returns all devices sorted by ID.
	ListDeviceRecords(ctx context.Context) ([]DeviceRecord, error)
	// ApproveDevice sets the device approved and returns its state before.
	// ErrNotFound if absent.
	ApproveDevice(ctx context.Context, id string) (before string, err error)
	// BlockDevice sets the device blocked, revokes its live sessions at
	// now (ReasonDeviceBlocked) and returns its state before and the sessions revoked.
	// ErrNotFound if absent.
	BlockDevice(ctx context.Context, id string, now time.Time) (before string, revoked []Session, err error)
	// LabelDevice sets the device's name and tags. ErrNotFound if absent.
	LabelDevice(ctx context.Context, id, name string, tags []string) error
	// SetDeviceInteractive marks the device interactive (someone signed in
	// on it) and reports whether it was not before. ErrNotFound if absent.
	SetDeviceInteractive(ctx context.Context, id string) (changed bool, err error)
	// TouchDevice records that the device was seen at at. ErrNotFound if
	// absent.
	TouchDevice(ctx context.Context, id string, at time.Time) error
	// NewDevicesNeedApproval says whether EnrollDevice stores new devices
	// pending (true) or approved (false, the default).
	NewDevicesNeedApproval(ctx context.Context) (bool, error)
	// SetNewDevicesNeedApproval sets that setting.
	SetNewDevicesNeedApproval(ctx context.Context, need bool) error
}

var _ IdentityStore = (*SQLite)(nil)
