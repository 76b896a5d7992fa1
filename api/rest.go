package api

import "time"

// REST paths. Everything under /api/v1 except Enroll needs
// "Authorization: Bearer <API token>" (ghk_…, see admins.go).
const (
	PathEnroll           = "/api/v1/enroll"
	PathUsers            = "/api/v1/users"
	PathGroups           = "/api/v1/groups"
	PathApps             = "/api/v1/apps"
	PathPostureProfiles  = "/api/v1/posture-profiles"
	PathPolicies         = "/api/v1/policies"
	PathEnrollmentTokens = "/api/v1/enrollment-tokens"
	PathDevices          = "/api/v1/devices"
	PathGrants           = "/api/v1/grants"
	PathGatewayPeers     = "/api/v1/gateway/peers"
	// PathAdminTokenRotate (POST) replaces the bootstrap token (only it
	// may, before the first owner exists); the answer is an AdminToken and
	// the old token stops working at once.
	PathAdminTokenRotate = "/api/v1/admin-token/rotate"
)

// User is a person from the built-in user store.
type User struct {
	Name   string   `json:"name"`
	Email  string   `json:"email,omitempty"`
	Groups []string `json:"groups"`
	// Claims are the identity provider's claims at the user's last
	// upstream sign-in or refresh, as conditions read them (user.claims);
	// read-only, shown by GET of one user, ignored on create and update.
	Claims map[string]string `json:"claims,omitempty"`
}

// Group names a set of users; membership lives on User.Groups.
type Group struct {
	Name    string   `json:"name"`
	Members []string `json:"members,omitempty"` // read-only
}

// App is one application behind a gateway. Each upstream "host:port" is
// reachable inside a tunnel at VirtualIP on the same port.
type App struct {
	Name      string   `json:"name"`
	Upstreams []string `json:"upstreams"`
	Protocol  string   `json:"protocol,omitempty"` // "tcp" (the default)
	Gateway   string   `json:"gateway,omitempty"`  // "embedded" (the default)
	VirtualIP string   `json:"virtual_ip,omitempty"`
}

// PostureProfile is a set of typed checks a device must pass.
type PostureProfile struct {
	Name           string `json:"name"`
	OSFamily       string `json:"os_family,omitempty"`
	MinKernel      string `json:"min_kernel,omitempty"`
	MinOSVersion   string `json:"min_os_version,omitempty"`
	DiskEncryption bool   `json:"disk_encryption,omitempty"`
	Firewall       bool   `json:"firewall,omitempty"`
	// RequiredProcesses lists required software: "/usr/sbin/sshd",
	// "/usr/sbin/sshd:<sha256>" or "/usr/sbin/sshd:pkg=openssh-server" (a
	// running root-owned executable, unmodified per its package for the
	// last; see ParseSoftware), or a bare process name (legacy, fakeable).
	RequiredProcesses []string `json:"required_processes,omitempty"`
	// MinOSVersions is a minimum OS version per platform, keyed by
	// os_family (linux, darwin, windows) or os_name (ubuntu, debian); an
	// os_name key wins over its family's. A device whose platform has no
	// key is not held to one.
	MinOSVersions map[string]string `json:"min_os_versions,omitempty"`
	ScreenLock    bool              `json:"screen_lock,omitempty"`
	SecureBoot    bool              `json:"secure_boot,omitempty"`
	AutoUpdates   bool              `json:"auto_updates,omitempty"`
	// MaxDaysSinceUpdate: the OS packages were updated at most this many
	// days ago (0: no limit).
	MaxDaysSinceUpdate int    `json:"max_days_since_update,omitempty"`
	MinAgentVersion    string `json:"min_agent_version,omitempty"`
	// ForbiddenSoftware: none of these may run. Specs as for
	// RequiredProcesses, plus "sha256:<hex>"; a path also catches renamed
	// copies by content (see ParseSoftware).
	ForbiddenSoftware []string `json:"forbidden_software,omitempty"`
	// RequiredFiles: each must exist, "PATH" or "PATH:SHA256".
	RequiredFiles []string `json:"required_files,omitempty"`
	// macOS and Windows checks.
	SIP          bool `json:"sip,omitempty"`
	Gatekeeper   bool `json:"gatekeeper,omitempty"`
	Antivirus    bool `json:"antivirus,omitempty"`
	DomainJoined bool `json:"domain_joined,omitempty"`
	// Condition is an optional CEL expression, as Policy.Condition, that
	// must be true for the profile to pass.
	Condition string `json:"condition,omitempty"`
	// Approvers, when set, makes the policy just-in-time (api/access.go):
	// its groups reach its apps only with a request this group's members
	// approved, for at most MaxAccess (0: DefaultMaxAccess; at most
	// MaxMaxAccess). Sign-in needs, posture and Condition still apply.
	Approvers string   `json:"approvers,omitempty"`
	MaxAccess Duration `json:"max_access,omitempty"`
}

// Exception waives named checks (CheckResult.Check names, "firewall",
// "process:/usr/sbin/sshd") for one user or one device until ExpiresAt.
// Exactly one of User and Device is set.
type Exception struct {
	ID     string   `json:"id,omitempty"`
	User   string   `json:"user,omitempty"`
	Device string   `json:"device,omitempty"`
	Checks []string `json:"checks"`
	// Owner answers for the exception (a user name or team).
	Owner     string    `json:"owner"`
	Reason    string    `json:"reason"`
	ExpiresAt time.Time `json:"expires_at"`
	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at,omitzero"`
}

// Policy grants Groups access to Apps while every PostureProfile passes.
type Policy struct {
	Name            string   `json:"name"`
	Groups          []string `json:"groups"`
	Apps            []string `json:"apps"`
	PostureProfiles []string `json:"posture_profiles,omitempty"`
	// Sign-in needs (issue 7): a live signed-in session on the device; a
	// second factor in it; at most this old (0: any age). MFA or an age
	// implies RequireSignIn.
	RequireSignIn bool     `json:"require_signin,omitempty"`
	RequireMFA    bool     `json:"require_mfa,omitempty"`
	MFAMaxAge     Duration `json:"mfa_max_age,omitempty"`
	SessionMaxAge Duration `json:"session_max_age,omitempty"`
	// Condition is an optional CEL expression over device.*, user.* and
	// request.* (issue 8, controller/policy/condition.go) that must be
	// true as well; "" is none. A false, failing or unknown result denies.
	Condition string `json:"condition,omitempty"`
	// Approvers, when set, makes the policy just-in-time (api/access.go):
	// its groups reach its apps only with a request this group's members
	// approved, for at most MaxAccess (0: DefaultMaxAccess; at most
	// MaxMaxAccess). Sign-in needs, posture and Condition still apply.
	Approvers string   `json:"approvers,omitempty"`
	MaxAccess Duration `json:"max_access,omitempty"`
}

// EnrollmentTokenRequest asks for a single-use token bound to User.
type EnrollmentTokenRequest struct {
	User string   `json:"user"`
	TTL  Duration `json:"ttl,omitempty"` // default 1h, at most 7 days
}

// EnrollmentToken describes a token; Token (the secret) is set only in the
// answer to its creation and is stored only as a hash.
type EnrollmentToken struct {
	ID        string    `json:"id"`
	User      string    `json:"user"`
	ExpiresAt time.Time `json:"expires_at"`
	Used      bool      `json:"used"`
	Token     string    `json:"token,omitempty"`
}

// AdminToken is the answer to a rotation: the new admin token, shown once.
type AdminToken struct {
	Token string `json:"token"`
}

// EnrollRequest is sent by `gatehouse-agent enroll`; the whole body may be
// at most 4 KiB.
type EnrollRequest struct {
	Token     string `json:"token"`
	PublicKey string `json:"public_key"` // Ed25519, base64
	Hostname  string `json:"hostname"`   // 1-253 of a-z A-Z 0-9 . - _
}

// EnrollResponse names the new device.
type EnrollResponse struct {
	DeviceID string `json:"device_id"`
	User     string `json:"user"`
}

// Device is an enrolled device.
type Device struct {
	ID         string    `json:"id"`
	User       string    `json:"user"`
	Hostname   string    `json:"hostname"`
	PublicKey  string    `json:"public_key"`
	EnrolledAt time.Time `json:"enrolled_at"`
	Online     bool      `json:"online"`
	// Identity's view (issue 7): pending, approved or blocked; the name
	// and tags an admin gave; when the device was last seen.
	State    string         `json:"state,omitempty"`
	Name     string         `json:"name,omitempty"`
	Tags     []string       `json:"tags,omitempty"`
	LastSeen time.Time      `json:"last_seen,omitzero"`
	Posture  *PostureReport `json:"posture,omitempty"`
}

// LiveGrant is a grant the controller holds right now.
type LiveGrant struct {
	Device      string    `json:"device"`
	User        string    `json:"user"`
	App         string    `json:"app"`
	PublicKey   string    `json:"public_key"`
	OverlayAddr string    `json:"overlay_addr"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// GatewayPeer is a WireGuard peer installed on a gateway.
type GatewayPeer struct {
	PublicKey   string    `json:"public_key"`
	OverlayAddr string    `json:"overlay_addr"`
	App         string    `json:"app"`
	ExpiresAt   time.Time `json:"expires_at"`
	OpenFlows   int       `json:"open_flows"`
}

// ErrorResponse is the body of every non-2xx REST answer.
type ErrorResponse struct {
	Error string `json:"error"`
}
