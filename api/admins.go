package api

import "time"

// Admin REST paths of issue 7 (docs/identity.md "Admins"). Every one needs
// "Authorization: Bearer <API token>" (ghk_…) of a role that may do it;
// PathBootstrap alone takes the controller's bootstrap token.
const (
	// PathBootstrap (POST BootstrapRequest → BootstrapResponse) creates
	// the first owner and an owner API token, once.
	PathBootstrap = "/api/v1/bootstrap"
	// PathAdmins (GET → []AdminAccount) lists the users holding a role.
	PathAdmins = "/api/v1/admins"
	// PathAPITokens: POST APITokenRequest → APIToken (with its secret,
	// shown once); GET → []APIToken; DELETE /{id} revokes.
	PathAPITokens = "/api/v1/api-tokens"
	// PathSessions: GET [?user=U] → []Session; DELETE /{id} ends one;
	// DELETE ?user=U ends all of U's (→ RevokedSessions).
	PathSessions = "/api/v1/sessions"
	// PathSettings: GET → Settings; PUT Settings.
	PathSettings = "/api/v1/settings"
)

// Per-user admin actions under PathUsers/{name}/…, and per-device ones
// under PathDevices/{id}/….
const (
	UserPassword    = "password"     // PUT PasswordRequest: every session of the user ends
	UserDisable     = "disable"      // POST: the user's sessions end, sign-in refused
	UserEnable      = "enable"       // POST
	UserUnlock      = "unlock"       // POST: clears the user's sign-in backoff
	UserRole        = "role"         // PUT RoleRequest (owners only); Role "" takes it away
	UserTOTP        = "totp"         // POST → TOTPEnrolment; DELETE removes the user's TOTP
	UserTOTPConfirm = "totp/confirm" // POST TOTPConfirmRequest
	DeviceApprove   = "approve"      // POST
	DeviceBlock     = "block"        // POST: the device's sessions end
	DeviceLabel     = "label"        // PUT DeviceLabelRequest
	QueryUser       = "user"         // the user filter of PathSessions
)

// DefaultBootstrapTokenTTL is the life of the owner token bootstrap makes.
const DefaultBootstrapTokenTTL = 30 * 24 * time.Hour

// BootstrapRequest names the first owner. The answer's API token is how
// the owner administers from then on (TokenTTL: default 30 days).
type BootstrapRequest struct {
	User      string   `json:"user"`
	Password  string   `json:"password"`
	Email     string   `json:"email,omitempty"`
	TokenName string   `json:"token_name,omitempty"` // default "bootstrap"
	TokenTTL  Duration `json:"token_ttl,omitempty"`
}

// BootstrapResponse is the owner made and its first API token.
type BootstrapResponse struct {
	User  string   `json:"user"`
	Token APIToken `json:"token"`
}

// AdminAccount is a user holding a role.
type AdminAccount struct {
	User     string `json:"user"`
	Role     string `json:"role"`
	Disabled bool   `json:"disabled,omitempty"`
}

// APITokenRequest asks for an API token with Role, living TTL.
type APITokenRequest struct {
	Name string   `json:"name"`
	Role string   `json:"role"`
	TTL  Duration `json:"ttl"`
}

// APIToken describes an admin API token; Token (the secret, ghk_…) is set
// only in the answer to its creation and stored only as a hash.
type APIToken struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	Token     string    `json:"token,omitempty"`
}

// Session is a user's sign-in session on one device (never its tokens).
type Session struct {
	ID           string    `json:"id"`
	User         string    `json:"user"`
	Device       string    `json:"device"`
	Methods      []string  `json:"methods"`
	AuthAt       time.Time `json:"auth_at"`
	MFAAt        time.Time `json:"mfa_at,omitzero"`
	ExpiresAt    time.Time `json:"expires_at"`
	LastRefresh  time.Time `json:"last_refresh,omitzero"`
	RevokedAt    time.Time `json:"revoked_at,omitzero"`
	RevokeReason string    `json:"revoke_reason,omitempty"`
	Live         bool      `json:"live"`
}

// RevokedSessions answers the revocation of a user's sessions.
type RevokedSessions struct {
	Revoked int `json:"revoked"`
}

// PasswordRequest sets a user's password (12 to 1024 bytes).
type PasswordRequest struct {
	Password string `json:"password"`
}

// RoleRequest gives a user a role: owner, admin, auditor, helpdesk, or ""
// for none.
type RoleRequest struct {
	Role string `json:"role"`
}

// TOTPEnrolment is a TOTP seed being enrolled, shown once: the text seed
// and the otpauth:// URL a QR code carries. It counts once confirmed.
type TOTPEnrolment struct {
	Secret string `json:"secret"`
	URL    string `json:"url"`
}

// TOTPConfirmRequest confirms an enrolment with a code made from its seed.
type TOTPConfirmRequest struct {
	Code string `json:"code"`
}

// DeviceLabelRequest sets a device's name and tags.
type DeviceLabelRequest struct {
	Name string   `json:"name"`
	Tags []string `json:"tags"`
}

// Settings are the controller's settings.
type Settings struct {
	// DeviceApproval: new devices stay pending until an admin approves them.
	DeviceApproval bool `json:"device_approval"`
}
