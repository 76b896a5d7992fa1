package api

// Sign-in (issue 7, docs/identity.md "Wiring"): the OAuth 2.0 device
// authorization grant (RFC 8628) over HTTPS, then the session's tokens on
// the agent's websocket, whose device-key proof binds them to the device.

// RFC 8628 endpoints, form-encoded requests and JSON answers.
const (
	PathDeviceAuthorization = "/oauth/device_authorization" // POST: DeviceAuthorization
	PathToken               = "/oauth/token"                // POST: TokenResponse or OAuthError
	PathDevicePage          = "/device"                     // the page where the user enters the code
	PathLogin               = "/login"                      // the built-in sign-in page

	// ClientAgent is the client_id of the agent's device flow.
	ClientAgent = "gatehouse-agent"
	// GrantTypeDeviceCode is grant_type of the agent's token poll.
	GrantTypeDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"

	// Form fields of a device authorization request besides client_id:
	// an enrolled device names itself (FieldDeviceID); a new one, which
	// signing in enrolls, sends its Ed25519 public key (base64) and
	// hostname instead.
	FieldDeviceID  = "device_id"
	FieldDeviceKey = "device_key"
	FieldHostname  = "hostname"

	// OAuth error codes of the token endpoint (RFC 8628 §3.5, RFC 6749 §5.2).
	OAuthAuthorizationPending = "authorization_pending"
	OAuthSlowDown             = "slow_down"
	OAuthAccessDenied         = "access_denied"
	OAuthExpiredToken         = "expired_token"
	OAuthInvalidGrant         = "invalid_grant"
	OAuthInvalidRequest       = "invalid_request"
	OAuthInvalidClient        = "invalid_client"
	OAuthUnsupportedGrantType = "unsupported_grant_type"
)

// DeviceAuthorization answers a device authorization request (RFC 8628 §3.2).
type DeviceAuthorization struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int    `json:"expires_in"` // seconds
	Interval                int    `json:"interval"`   // seconds between polls
}

// TokenResponse answers a successful poll: the session's tokens, for the
// device named. Device is set when this sign-in enrolled a new device.
type TokenResponse struct {
	AccessToken  string          `json:"access_token"`
	RefreshToken string          `json:"refresh_token"`
	TokenType    string          `json:"token_type"` // "Bearer"
	ExpiresIn    int             `json:"expires_in"` // the access token's, in seconds
	DeviceID     string          `json:"device_id"`
	User         string          `json:"user"`
	Device       *EnrollResponse `json:"device,omitempty"`
}

// OAuthError is the token endpoint's error answer (HTTP 400).
type OAuthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// Websocket messages of a signed-in session. The agent presents its
// access token in AuthMsg.AccessToken; a token another device presents
// is refused and its session ended.
const (
	TypeRefresh   = "refresh"    // agent → controller: RefreshMsg
	TypeTokens    = "tokens"     // controller → agent: TokensMsg (the answer to a refresh)
	TypeLogout    = "logout"     // agent → controller: LogoutMsg
	TypeSignedOut = "signed_out" // controller → agent: SignedOutMsg
)

// RefreshMsg asks for new tokens; the refresh token rotates.
type RefreshMsg struct {
	RefreshToken string `json:"refresh_token"`
}

// TokensMsg carries a session's new tokens.
type TokensMsg struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"` // the access token's, in seconds
}

// LogoutMsg ends the link's session at the controller; its tunnels go.
type LogoutMsg struct{}

// SignedOutMsg says the link's session ended (Code: a session.* or
// identity reason code; Message ends with the fix). The device's grants
// that needed it are revoked.
type SignedOutMsg struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// SessionInfo describes the link's signed-in session (in WelcomeMsg).
type SessionInfo struct {
	User      string   `json:"user"`
	Methods   []string `json:"methods"`    // "pwd", "otp", "webauthn", "oidc"
	ExpiresIn int      `json:"expires_in"` // the access token's, in seconds
}
