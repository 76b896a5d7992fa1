package controller

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// The device authorization grant (RFC 8628, docs/identity.md "Wiring"):
// an agent asks for a code pair, the user signs in through the browser
// and approves the device the code names, the agent polls and redeems
// the device code once for a session bound to the device. Codes live in
// memory only: a restart forgets them, and the agent starts again.

// Defaults of DeviceFlowConfig.
const (
	DefaultDeviceCodeInterval = 5 * time.Second
	DefaultDeviceCodeLifetime = 10 * time.Minute
	DefaultMaxPendingCodes    = 10000
	// SlowDownStep is what a slow_down adds to a code's poll interval
	// (RFC 8628 §3.5: 5 seconds), on both sides.
	SlowDownStep = 5 * time.Second
)

// userCodeAlphabet is RFC 8628 §6.1's: 20 consonants, no vowels (no
// words), no look-alikes. 8 of them carry 34.6 bits.
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// ActorSignIn is a user acting through a sign-in (a device enrolled by
// the device flow); Name is the user.
const ActorSignIn ActorKind = "sign_in"

// OAuthTemporarilyUnavailable: the flow holds as many codes as it may
// (RFC 6749 §4.1.2.1's code; HTTP 503).
const OAuthTemporarilyUnavailable = "temporarily_unavailable"

// DeviceFlowConfig sets the device flow up; zero fields take the defaults.
type DeviceFlowConfig struct {
	// Interval is the least time between an agent's polls.
	Interval time.Duration
	// Lifetime is how long a code pair waits for the user.
	Lifetime time.Duration
	// MaxPending caps the code pairs held (pending, decided and spent
	// ones until they expire).
	MaxPending int
}

// Check refuses a config NewDeviceFlow would refuse.
func (c DeviceFlowConfig) Check() error {
	_, err := c.withDefaults()
	return err
}

func (c DeviceFlowConfig) withDefaults() (DeviceFlowConfig, error) {
	if c.Interval < 0 || c.Lifetime < 0 || c.MaxPending < 0 {
		return c, fmt.Errorf("device flow %+v: negative values; leave them 0 for the defaults", c)
	}
	if c.Interval == 0 {
		c.Interval = DefaultDeviceCodeInterval
	}
	if c.Lifetime == 0 {
		c.Lifetime = DefaultDeviceCodeLifetime
	}
	if c.MaxPending == 0 {
		c.MaxPending = DefaultMaxPendingCodes
	}
	if c.Interval < time.Second || c.Interval >= c.Lifetime {
		return c, fmt.Errorf("device flow interval %s must be at least 1s and less than the code lifetime %s", c.Interval, c.Lifetime)
	}
	return c, nil
}

// FlowError is a refusal of the device flow, as the token endpoint says
// it: Code is an OAuth error code (api.OAuth*, OAuthTemporarilyUnavailable),
// Description says what to do.
type FlowError struct {
	Code        string
	Description string
}

func (e *FlowError) Error() string { return e.Code + ": " + e.Description }

func flowErr(code, format string, args ...any) *FlowError {
	return &FlowError{Code: code, Description: fmt.Sprintf(format, args...)}
}

// DeviceAuthRequest is an agent's request for a code pair: an enrolled
// device names itself (DeviceID); a new one sends its key and hostname,
// and the sign-in enrolls it.
type DeviceAuthRequest struct {
	ClientID  string
	DeviceID  string
	DeviceKey string // base64 Ed25519 public key
	Hostname  string
}

// DeviceCodes is a started authorization: the device code for the agent,
// the user code for the person.
type DeviceCodes struct {
	DeviceCode string
	UserCode   string // XXXX-XXXX
	ExpiresIn  time.Duration
	Interval   time.Duration
}

// PendingDevice is what the person confirms: which device a user code
// names.
type PendingDevice struct {
	UserCode    string
	DeviceID    string // empty for a new device
	Owner       string // the enrolled device's user; empty for a new one
	Hostname    string
	Fingerprint string // SHA256:… of the device key, as `gatehouse status` shows it
	ExpiresAt   time.Time
	// AdminCLI: the code is `gatehouse admin login`'s (api.ClientAdmin):
	// approving gives its key an admin session, no device.
	AdminCLI bool
}

// Approval is what approving did.
type Approval struct {
	DeviceID string
	// Enrolled is set when the approval enrolled a new device; its State
	// says whether it waits for an admin.
	Enrolled *identity.Device
	// AdminCLI: the approval signed `gatehouse admin login` in; DeviceID
	// is its key's binding (api.AdminBinding).
	AdminCLI bool
}

// The states of a code pair.
type codeState int

const (
	codePending   codeState = iota
	codeApproving           // taken by an approval still running: polls wait
	codeApproved
	codeDenied
	codeRedeemed
)

// deviceAuth is one code pair.
type deviceAuth struct {
	userCode  string // normalised: 8 letters
	req       DeviceAuthRequest
	pending   PendingDevice
	expiresAt time.Time
	interval  time.Duration
	lastPoll  time.Time // zero before the first poll

	state    codeState
	denial   string // why, for access_denied
	proof    identity.Proof
	deviceID string
	enrolled *api.EnrollResponse
}

// DeviceFlow holds the device flow's code pairs. Its methods are safe for
// concurrent use.
type DeviceFlow struct {
	cfg DeviceFlowConfig
	c   *Controller
	now func() time.Time

	mu       sync.Mutex
	byDevice map[string]*deviceAuth // by SHA-256 (hex) of the device code; guarded by mu
	byUser   map[string]*deviceAuth // by normalised user code; guarded by mu
}

// NewDeviceFlow returns an empty device flow over c, for its transport to
// serve (controller/httpapi owns it: the codes live as long as the server).
func (c *Controller) NewDeviceFlow(cfg DeviceFlowConfig) (*DeviceFlow, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &DeviceFlow{cfg: cfg, c: c, now: time.Now,
		byDevice: map[string]*deviceAuth{}, byUser: map[string]*deviceAuth{}}, nil
}

// Config returns the configuration in force, defaults filled in.
func (f *DeviceFlow) Config() DeviceFlowConfig { return f.cfg }

// Start checks req and makes a code pair for it. Bad input is a
// *FlowError (invalid_client, invalid_request) and holds nothing.
func (f *DeviceFlow) Start(ctx context.Context, req DeviceAuthRequest) (DeviceCodes, error) {
	pending, err := f.check(ctx, req)
	if err != nil {
		return DeviceCodes{}, err
	}
	deviceCode := rand.Text() + rand.Text() // 2 × 128 bits, base32
	now := f.now()
	a := &deviceAuth{req: req, pending: pending, expiresAt: now.Add(f.cfg.Lifetime), interval: f.cfg.Interval}

	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.byDevice) >= f.cfg.MaxPending {
		f.forgetExpired(now)
	}
	if len(f.byDevice) >= f.cfg.MaxPending {
		return DeviceCodes{}, flowErr(OAuthTemporarilyUnavailable, "too many sign-ins under way at this controller: try again in a minute")
	}
	for {
		a.userCode, err = newUserCode()
		if err != nil {
			return DeviceCodes{}, err
		}
		if f.byUser[a.userCode] == nil {
			break
		}
	}
	a.pending.UserCode, a.pending.ExpiresAt = FormatUserCode(a.userCode), a.expiresAt
	f.byDevice[hashCode(deviceCode)] = a
	f.byUser[a.userCode] = a
	return DeviceCodes{DeviceCode: deviceCode, UserCode: a.pending.UserCode, ExpiresIn: f.cfg.Lifetime, Interval: f.cfg.Interval}, nil
}

// check refuses a request before anything is held, and describes the
// device for the confirmation page.
func (f *DeviceFlow) check(ctx context.Context, req DeviceAuthRequest) (PendingDevice, error) {
	switch {
	case req.ClientID == "":
		return PendingDevice{}, flowErr(api.OAuthInvalidRequest, "client_id missing: send client_id=%s", api.ClientAgent)
	case req.ClientID == api.ClientAdmin:
		return checkAdminCLI(req)
	case req.ClientID != api.ClientAgent:
		return PendingDevice{}, flowErr(api.OAuthInvalidClient, "unknown client_id %q: this controller serves %s and %s", Clip(req.ClientID), api.ClientAgent, api.ClientAdmin)
	case req.DeviceID != "" && (req.DeviceKey != "" || req.Hostname != ""):
		return PendingDevice{}, flowErr(api.OAuthInvalidRequest, "send either device_id (an enrolled device) or device_key and hostname (a new one), not both")
	case req.DeviceID != "":
		dev, err := f.c.store.GetDevice(ctx, req.DeviceID)
		if errors.Is(err, store.ErrNotFound) {
			return PendingDevice{}, flowErr(api.OAuthInvalidRequest, "device %q is not enrolled here: sign in as a new device (send device_key and hostname)", Clip(req.DeviceID))
		}
		if err != nil {
			return PendingDevice{}, fmt.Errorf("device flow: %w", err)
		}
		return PendingDevice{DeviceID: dev.ID, Owner: dev.User, Hostname: dev.Hostname, Fingerprint: KeyFingerprint(dev.PublicKey)}, nil
	case req.DeviceKey == "" || req.Hostname == "":
		return PendingDevice{}, flowErr(api.OAuthInvalidRequest, "send device_id (an enrolled device) or device_key and hostname (a new one)")
	}
	if pub, err := base64.StdEncoding.DecodeString(req.DeviceKey); err != nil || len(pub) != ed25519.PublicKeySize {
		return PendingDevice{}, flowErr(api.OAuthInvalidRequest, "device_key must be a base64 Ed25519 public key")
	}
	if err := validHostname(req.Hostname); err != nil {
		return PendingDevice{}, flowErr(api.OAuthInvalidRequest, "%s", strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
	}
	return PendingDevice{Hostname: req.Hostname, Fingerprint: KeyFingerprint(req.DeviceKey)}, nil
}

// checkAdminCLI checks an admin CLI's request: its key (an admin CLI
// is never an enrolled device) and, optionally, the host it runs on.
func checkAdminCLI(req DeviceAuthRequest) (PendingDevice, error) {
	pub, err := base64.StdEncoding.DecodeString(req.DeviceKey)
	switch {
	case req.DeviceID != "":
		return PendingDevice{}, flowErr(api.OAuthInvalidRequest, "client %s sends its key (device_key), not a device_id", api.ClientAdmin)
	case err != nil || len(pub) != ed25519.PublicKeySize:
		return PendingDevice{}, flowErr(api.OAuthInvalidRequest, "device_key must be the admin CLI's base64 Ed25519 public key")
	case req.Hostname != "":
		if err := validHostname(req.Hostname); err != nil {
			return PendingDevice{}, flowErr(api.OAuthInvalidRequest, "%s", strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
		}
	}
	return PendingDevice{Hostname: req.Hostname, Fingerprint: KeyFingerprint(req.DeviceKey), AdminCLI: true}, nil
}

// forgetExpired drops expired code pairs. Called with mu held.
func (f *DeviceFlow) forgetExpired(now time.Time) {
	for h, a := range f.byDevice {
		if !now.Before(a.expiresAt) {
			delete(f.byDevice, h)
			delete(f.byUser, a.userCode)
		}
	}
}

// errUnknownUserCode is what every page gets for a user code that is not
// pending: unknown, expired, or decided already.
var errUnknownUserCode = Invalid("this code is unknown, expired or used already: check it, or run gatehouse login again for a new one")

// lookup returns the pending code pair userCode names, or
// errUnknownUserCode. Called with mu held.
func (f *DeviceFlow) lookup(userCode string) (*deviceAuth, error) {
	norm, ok := NormalizeUserCode(userCode)
	if !ok {
		return nil, Invalid("a code is 8 letters like BCDF-GHJK: check it and enter it again")
	}
	a := f.byUser[norm]
	if a == nil || a.state != codePending || !f.now().Before(a.expiresAt) {
		return nil, errUnknownUserCode
	}
	return a, nil
}

// Pending describes the device userCode names, for the person to
// confirm; ErrInvalid if it names none waiting.
func (f *DeviceFlow) Pending(userCode string) (PendingDevice, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, err := f.lookup(userCode)
	if err != nil {
		return PendingDevice{}, err
	}
	return a.pending, nil
}

// Approve lets the device userCode names have a session of p's user: an
// enrolled device must be the user's own (else the code is denied and
// ErrForbidden returned); a new one is enrolled as the user's, pending
// when new devices need approval. The agent's next poll gets the tokens.
func (f *DeviceFlow) Approve(ctx context.Context, userCode string, p identity.Proof) (Approval, error) {
	f.mu.Lock()
	a, err := f.lookup(userCode)
	if err == nil {
		a.state = codeApproving // taken: a second approval finds it decided
	}
	f.mu.Unlock()
	if err != nil {
		return Approval{}, err
	}
	res, denial, err := f.approve(ctx, a, p.User())
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case denial != "":
		a.state, a.denial = codeDenied, denial
		f.c.log.Warn("device flow: approval refused", "user", p.User(), "device", a.pending.DeviceID, "owner", a.pending.Owner)
		return Approval{}, fmt.Errorf("%w: %s", ErrForbidden, denial)
	case err != nil:
		a.state = codePending // our trouble: the person may try again
		return Approval{}, err
	}
	a.state, a.proof, a.deviceID = codeApproved, p, res.DeviceID
	if res.Enrolled != nil {
		a.enrolled = &api.EnrollResponse{DeviceID: res.Enrolled.ID, User: res.Enrolled.Owner}
	}
	f.c.log.Info("device flow: device approved", "user", p.User(), "device", res.DeviceID, "new", res.Enrolled != nil)
	return res, nil
}

// approve checks or enrolls a's device for user; a denial says why the
// device may not have user's session.
func (f *DeviceFlow) approve(ctx context.Context, a *deviceAuth, user string) (res Approval, denial string, err error) {
	if a.req.ClientID == api.ClientAdmin {
		// No device: the session is bound to the CLI's key, which proves
		// itself on every admin request (docs/identity.md "Admins").
		pub, _ := base64.StdEncoding.DecodeString(a.req.DeviceKey) // checked by Start
		return Approval{DeviceID: api.AdminBinding(pub), AdminCLI: true}, "", nil
	}
	if a.req.DeviceID != "" {
		dev, err := f.c.store.GetDevice(ctx, a.req.DeviceID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return Approval{}, fmt.Sprintf("device %s was deleted meanwhile: sign in again as a new device", a.req.DeviceID), nil
		case err != nil:
			return Approval{}, "", err
		case dev.User != user:
			return Approval{}, fmt.Sprintf("device %s belongs to another user: sign in as its owner, or ask an admin to move it", dev.ID), nil
		}
		return Approval{DeviceID: dev.ID}, "", nil
	}
	dev, err := f.c.Enrollment.EnrollSignedIn(ctx, user, a.req.DeviceKey, a.req.Hostname)
	if errors.Is(err, store.ErrUserDisabled) {
		return Approval{}, fmt.Sprintf("user %s is disabled: ask an admin to enable it", user), nil
	}
	if err != nil {
		return Approval{}, "", err
	}
	rec, err := f.c.Identity.Device(ctx, dev.ID)
	if err != nil {
		return Approval{}, "", err
	}
	return Approval{DeviceID: dev.ID, Enrolled: &rec}, "", nil
}

// Deny refuses the device userCode names; the agent's next poll gets
// access_denied.
func (f *DeviceFlow) Deny(userCode string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, err := f.lookup(userCode)
	if err != nil {
		return err
	}
	a.state, a.denial = codeDenied, "the person signing in denied this device: run gatehouse login again if that was a mistake"
	return nil
}

// Redeem is the agent's poll with deviceCode: a *FlowError while the user
// has not decided (authorization_pending), when polled faster than the
// interval (slow_down, which adds SlowDownStep to it), when denied
// (access_denied), expired (expired_token) or unknown or spent already
// (invalid_grant); the session's tokens once approved, once.
func (f *DeviceFlow) Redeem(ctx context.Context, clientID, deviceCode string) (api.TokenResponse, error) {
	if clientID == "" {
		return api.TokenResponse{}, flowErr(api.OAuthInvalidRequest, "client_id missing: send client_id=%s", api.ClientAgent)
	}
	if clientID != api.ClientAgent && clientID != api.ClientAdmin {
		return api.TokenResponse{}, flowErr(api.OAuthInvalidClient, "unknown client_id %q: this controller serves %s and %s", Clip(clientID), api.ClientAgent, api.ClientAdmin)
	}
	if deviceCode == "" {
		return api.TokenResponse{}, flowErr(api.OAuthInvalidRequest, "device_code missing")
	}
	now := f.now()
	f.mu.Lock()
	a := f.byDevice[hashCode(deviceCode)]
	if a == nil {
		f.mu.Unlock()
		return api.TokenResponse{}, flowErr(api.OAuthInvalidGrant, "unknown device code: run gatehouse login again")
	}
	if a.req.ClientID != clientID { // an agent's code never becomes an admin session, nor the other way round
		f.mu.Unlock()
		return api.TokenResponse{}, flowErr(api.OAuthInvalidGrant, "this device code was issued to client %s, not %s: start the sign-in again", a.req.ClientID, Clip(clientID))
	}
	if err := f.poll(a, now); err != nil {
		f.mu.Unlock()
		return api.TokenResponse{}, err
	}
	a.state = codeRedeemed // spent here, under mu: a second poll finds it so
	proof, deviceID, enrolled := a.proof, a.deviceID, a.enrolled
	f.mu.Unlock()

	sess, tok, err := f.c.Identity.StartSession(ctx, proof, deviceID)
	if err != nil {
		if errors.Is(err, identity.ErrDeviceBlocked) || errors.Is(err, identity.ErrUserDisabled) || errors.Is(err, identity.ErrNotFound) {
			return api.TokenResponse{}, flowErr(api.OAuthAccessDenied, "%v", err)
		}
		return api.TokenResponse{}, fmt.Errorf("device flow: %w", err)
	}
	// StartSession marked the device interactive in the same transaction:
	// from now on its grants need a live session (docs/identity.md "Wiring").
	return api.TokenResponse{
		AccessToken: tok.Access, RefreshToken: tok.Refresh, TokenType: "Bearer",
		ExpiresIn: int(tok.AccessExpiresAt.Sub(f.now()).Seconds()),
		DeviceID:  deviceID, User: sess.User, Device: enrolled,
	}, nil
}

// poll records a poll of a at now and says why it gets no tokens, if it
// does not. Called with mu held.
func (f *DeviceFlow) poll(a *deviceAuth, now time.Time) error {
	if !now.Before(a.expiresAt) {
		return flowErr(api.OAuthExpiredToken, "the code expired before it was approved: run gatehouse login again")
	}
	if a.state == codeRedeemed {
		return flowErr(api.OAuthInvalidGrant, "this device code was redeemed already: run gatehouse login again")
	}
	last := a.lastPoll
	a.lastPoll = now
	if !last.IsZero() && now.Sub(last) < a.interval {
		a.interval += SlowDownStep
		return flowErr(api.OAuthSlowDown, "polled too often: wait %s between polls", a.interval)
	}
	switch a.state {
	case codePending, codeApproving:
		return flowErr(api.OAuthAuthorizationPending, "waiting for the user to sign in and approve this device")
	case codeDenied:
		a.state = codeRedeemed
		return flowErr(api.OAuthAccessDenied, "%s", a.denial)
	}
	return nil
}

// newUserCode draws 8 letters of userCodeAlphabet uniformly.
func newUserCode() (string, error) {
	var b strings.Builder
	buf := make([]byte, 16)
	for b.Len() < 8 {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, c := range buf {
			if c < 240 && b.Len() < 8 { // 240 = 12 × 20: no modulo bias
				b.WriteByte(userCodeAlphabet[int(c)%len(userCodeAlphabet)])
			}
		}
	}
	return b.String(), nil
}

// NormalizeUserCode turns what a person typed (any case, with or without
// the dash or spaces) into the code's 8 letters, or says it cannot be one.
func NormalizeUserCode(s string) (string, bool) {
	if len(s) > 32 {
		return "", false
	}
	s = strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(s))
	if len(s) != 8 {
		return "", false
	}
	for _, c := range s {
		if !strings.ContainsRune(userCodeAlphabet, c) {
			return "", false
		}
	}
	return s, true
}

// FormatUserCode writes 8 letters as XXXX-XXXX.
func FormatUserCode(norm string) string {
	if len(norm) != 8 {
		return norm
	}
	return norm[:4] + "-" + norm[4:]
}

// hashCode is the key a device code is held under.
func hashCode(code string) string {
	h := sha256.Sum256([]byte(code))
	return hex.EncodeToString(h[:])
}

// KeyFingerprint is a device key's SHA-256 fingerprint (as OpenSSH writes
// one: SHA256: and unpadded base64), or "" for a key that is not base64.
func KeyFingerprint(b64 string) string {
	pub, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return ""
	}
	h := sha256.Sum256(pub)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(h[:])
}

// EnrollSignedIn enrolls a new device with key (base64 Ed25519) and
// hostname as user's, whom a sign-in proved (the device flow): no
// enrollment token is spent. Pending when new devices need approval.
func (e *Enrollment) EnrollSignedIn(ctx context.Context, user, key, hostname string) (api.Device, error) {
	pub, err := base64.StdEncoding.DecodeString(key)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return api.Device{}, Invalid("device public key must be a base64 Ed25519 key")
	}
	if err := validHostname(hostname); err != nil {
		return api.Device{}, err
	}
	now := e.now()
	dev, err := e.store.EnrollSignedIn(ctx, now, api.Device{
		ID: newID("dev_"), User: user, Hostname: hostname, PublicKey: key, EnrolledAt: now.UTC()})
	if err != nil {
		return api.Device{}, fmt.Errorf("enroll %s for %q: %w", hostname, user, err)
	}
	e.log.Info("device enrolled by sign-in", "device", dev.ID, "user", dev.User, "hostname", dev.Hostname)
	ch := Change{Kind: Enrolled, Object: ObjectDevice, Name: dev.ID, By: Actor{Kind: ActorSignIn, Name: user}}
	return dev, e.commit(ctx, ch)
}

// Held is how many code pairs the flow holds (pending, decided or spent,
// until they expire).
func (f *DeviceFlow) Held() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.byDevice)
}
