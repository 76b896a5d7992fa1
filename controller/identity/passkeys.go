package identity

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"
	"unicode"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// Passkeys (WebAuthn, go-webauthn) are the built-in phishing-resistant
// factor. The relying party is the controller's public DNS name; every
// ceremony requires user verification (a PIN or biometric on the
// authenticator), so a passkey sign-in is two factors at once: its Proof
// has method "webauthn" and counts as MFA done now. Ceremonies are held
// here, in memory, bounded, for CeremonyTTL, and used once.

// PasskeyConfig sets passkeys up. Without RPID passkeys are off.
type PasskeyConfig struct {
	// RPID is the WebAuthn relying party ID: the DNS name people reach
	// the controller at (an IP address cannot be one).
	RPID string
	// Origins are the exact web origins the pages run at
	// ("https://gatehouse.example.com:8443"); each must be RPID or under it.
	Origins []string
	// DisplayName names the controller on the authenticator (default
	// "Gatehouse").
	DisplayName string
	// CeremonyTTL is how long a begun ceremony may be finished (default
	// 5 minutes).
	CeremonyTTL time.Duration
	// MaxCeremonies bounds the ceremonies held (default 10 000): when
	// full, expired ones go, then the oldest.
	MaxCeremonies int
	// RegisterMaxAge is how recent the password-and-code sign-in must be
	// for its user to add a passkey (default 10 minutes).
	RegisterMaxAge time.Duration
	// MaxPerUser bounds a user's passkeys (default 10).
	MaxPerUser int
}

func (c PasskeyConfig) withDefaults() PasskeyConfig {
	if c.DisplayName == "" {
		c.DisplayName = "Gatehouse"
	}
	if c.CeremonyTTL == 0 {
		c.CeremonyTTL = 5 * time.Minute
	}
	if c.MaxCeremonies == 0 {
		c.MaxCeremonies = 10_000
	}
	if c.RegisterMaxAge == 0 {
		c.RegisterMaxAge = 10 * time.Minute
	}
	if c.MaxPerUser == 0 {
		c.MaxPerUser = 10
	}
	c.Origins = slices.Clone(c.Origins)
	return c
}

// Errors of passkeys; test with errors.Is.
var (
	// ErrPasskeysOff: the controller has no relying party ID (a DNS
	// public name) configured.
	ErrPasskeysOff = errors.New("passkeys are not set up on this controller")
	// ErrCeremony: no such ceremony, or it expired or was used: begin
	// again.
	ErrCeremony = errors.New("passkey ceremony unknown, expired or already used")
	// ErrPasskeyInvalid: a bad passkey name or a response that does not
	// verify (another origin, another relying party, a bad signature).
	ErrPasskeyInvalid = errors.New("passkey not accepted")
)

// Why a passkey sign-in failed, in LoginFailed events.
const (
	failCeremony       = "passkey_ceremony"
	failBadPasskey     = "bad_passkey"
	failUnknownPasskey = "unknown_passkey"
	failSignCount      = "passkey_sign_count"
)

// Limits on what a client sends.
const (
	// MaxPasskeyResponse caps a ceremony's response, in bytes.
	MaxPasskeyResponse = 64 << 10
	// MaxPasskeyName caps a passkey's name, in bytes.
	MaxPasskeyName = 64
)

// PasskeyChallenge is a begun ceremony: Options go to the browser's
// navigator.credentials.create or .get as they are (JSON); ID names the
// ceremony at Finish and must stay with the browser's server-side
// session (never take it from the client: that would let one browser
// finish another's ceremony).
type PasskeyChallenge struct {
	ID      string
	Options json.RawMessage
}

// PasskeyInfo is what a user sees of a passkey.
type PasskeyInfo struct {
	ID         string // the credential ID, base64url
	Name       string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero if never used
}

type ceremonyKind int

const (
	ceremonyRegister ceremonyKind = iota + 1
	ceremonyLogin
)

// ceremony is a begun registration or sign-in.
type ceremony struct {
	kind    ceremonyKind
	user    string // registration: the user; sign-in: the user named, or "" (discoverable)
	name    string // registration: the new passkey's name
	data    webauthn.SessionData
	expires time.Time
}

// ceremonies holds begun ceremonies by a random ID.
type ceremonies struct {
	max   int
	ttl   time.Duration
	clock Clock

	mu sync.Mutex           // guards m
	m  map[string]*ceremony // by ID
}

// put holds c and returns its ID; when full, expired ceremonies go, then
// the oldest.
func (cs *ceremonies) put(c *ceremony) string {
	id := rand.Text() + rand.Text()
	now := cs.clock.Now()
	c.expires = now.Add(cs.ttl)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if len(cs.m) >= cs.max {
		oldestID, oldest := "", time.Time{}
		for k, v := range cs.m {
			if !now.Before(v.expires) {
				delete(cs.m, k)
			} else if oldestID == "" || v.expires.Before(oldest) {
				oldestID, oldest = k, v.expires
			}
		}
		if len(cs.m) >= cs.max {
			delete(cs.m, oldestID)
		}
	}
	cs.m[id] = c
	return id
}

// take removes and returns ceremony id of kind, whatever happens next:
// a ceremony is used once.
func (cs *ceremonies) take(id string, kind ceremonyKind) (*ceremony, error) {
	cs.mu.Lock()
	c := cs.m[id]
	delete(cs.m, id)
	cs.mu.Unlock()
	if c == nil || c.kind != kind || !cs.clock.Now().Before(c.expires) {
		return nil, fmt.Errorf("%w: start again", ErrCeremony)
	}
	return c, nil
}

// passkeys is the Service's WebAuthn relying party.
type passkeys struct {
	cfg        PasskeyConfig
	rp         *webauthn.WebAuthn
	ceremonies *ceremonies
}

// newPasskeys makes the relying party, or nil when cfg has no RPID.
func newPasskeys(cfg PasskeyConfig, clock Clock) (*passkeys, error) {
	if cfg.RPID == "" {
		return nil, nil
	}
	cfg = cfg.withDefaults()
	if len(cfg.Origins) == 0 {
		return nil, fmt.Errorf("passkeys for %s: no origins: give the URLs the sign-in pages are reached at", cfg.RPID)
	}
	rp, err := webauthn.New(&webauthn.Config{
		RPID: cfg.RPID, RPDisplayName: cfg.DisplayName, RPOrigins: cfg.Origins,
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification: protocol.VerificationRequired,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: cfg.CeremonyTTL, TimeoutUVD: cfg.CeremonyTTL},
			Registration: webauthn.TimeoutConfig{Timeout: cfg.CeremonyTTL, TimeoutUVD: cfg.CeremonyTTL},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkeys for %s: %w", cfg.RPID, err)
	}
	return &passkeys{cfg: cfg, rp: rp, ceremonies: &ceremonies{max: cfg.MaxCeremonies, ttl: cfg.CeremonyTTL, clock: clock, m: map[string]*ceremony{}}}, nil
}

// PasskeysEnabled says whether passkeys are set up (a relying party ID).
func (s *Service) PasskeysEnabled() bool { return s.pk != nil }

// passkeyUser is a user as go-webauthn sees one.
type passkeyUser struct {
	name   string
	handle []byte
	creds  []webauthn.Credential
	names  []string // the passkeys' names, as creds
}

func (u *passkeyUser) WebAuthnID() []byte                         { return u.handle }
func (u *passkeyUser) WebAuthnName() string                       { return u.name }
func (u *passkeyUser) WebAuthnDisplayName() string                { return u.name }
func (u *passkeyUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

var _ webauthn.User = (*passkeyUser)(nil)

// loadPasskeyUser reads user's handle (made now if it has none) and
// passkeys, each with its stored signature counter.
func (s *Service) loadPasskeyUser(ctx context.Context, user string) (*passkeyUser, error) {
	candidate := make([]byte, 32)
	rand.Read(candidate)
	handle, err := s.store.WebAuthnHandle(ctx, user, candidate)
	if err != nil {
		return nil, fmt.Errorf("passkeys of %q: %w", user, err)
	}
	rows, err := s.store.Passkeys(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("passkeys of %q: %w", user, err)
	}
	u := &passkeyUser{name: user, handle: handle}
	for _, r := range rows {
		var c webauthn.Credential
		if err := json.Unmarshal(r.Credential, &c); err != nil {
			return nil, fmt.Errorf("passkey %q of %q: stored credential: %w", r.Name, user, err)
		}
		c.Authenticator.SignCount = r.SignCount
		u.creds, u.names = append(u.creds, c), append(u.names, r.Name)
	}
	return u, nil
}

// checkPasskeyName refuses empty, long or unprintable names.
func checkPasskeyName(name string) error {
	if name == "" || len(name) > MaxPasskeyName {
		return fmt.Errorf("%w: give the passkey a name of 1 to %d bytes (e.g. \"laptop\")", ErrPasskeyInvalid, MaxPasskeyName)
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%w: the passkey's name has an unprintable character", ErrPasskeyInvalid)
		}
	}
	return nil
}

// BeginPasskeyRegistration starts adding a passkey named name for p's
// user. p must be a sign-in with password and TOTP made within
// RegisterMaxAge (ErrMFARequired otherwise): a password alone must not
// be able to plant a second factor, nor a passkey another passkey.
func (s *Service) BeginPasskeyRegistration(ctx context.Context, p Proof, name string) (PasskeyChallenge, error) {
	if s.pk == nil {
		return PasskeyChallenge{}, ErrPasskeysOff
	}
	if err := s.canRegister(p); err != nil {
		return PasskeyChallenge{}, err
	}
	if err := checkPasskeyName(name); err != nil {
		return PasskeyChallenge{}, err
	}
	u, err := s.loadPasskeyUser(ctx, p.user)
	if err != nil {
		return PasskeyChallenge{}, err
	}
	if len(u.creds) >= s.pk.cfg.MaxPerUser {
		return PasskeyChallenge{}, fmt.Errorf("%w: %q has %d passkeys, the most allowed: delete one first", ErrPasskeyInvalid, p.user, len(u.creds))
	}
	if slices.Contains(u.names, name) {
		return PasskeyChallenge{}, fmt.Errorf("%w: you have a passkey named %q: choose another name", ErrPasskeyInvalid, name)
	}
	creation, data, err := s.pk.rp.BeginRegistration(u,
		webauthn.WithExclusions(webauthn.Credentials(u.creds).CredentialDescriptors()),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation))
	if err != nil {
		return PasskeyChallenge{}, fmt.Errorf("begin passkey registration for %q: %w", p.user, err)
	}
	return s.challenge(&ceremony{kind: ceremonyRegister, user: p.user, name: name, data: *data}, creation)
}

// CanAddPasskey says whether p's user may add a passkey now (passkeys on,
// and p a password-and-TOTP sign-in within RegisterMaxAge); the error says
// what to do otherwise.
func (s *Service) CanAddPasskey(p Proof) error {
	if s.pk == nil {
		return ErrPasskeysOff
	}
	return s.canRegister(p)
}

// canRegister checks that p may add a passkey.
func (s *Service) canRegister(p Proof) error {
	if p.user == "" || !slices.Contains(p.methods, MethodPassword) || !slices.Contains(p.methods, MethodTOTP) {
		return fmt.Errorf("%w: sign in with your password and authenticator code to add a passkey", ErrMFARequired)
	}
	if age := s.clock.Now().Sub(p.mfaAt); age > s.pk.cfg.RegisterMaxAge {
		return fmt.Errorf("%w: your sign-in is %v old: sign in again with your password and code to add a passkey",
			ErrMFATooOld, age.Truncate(time.Second))
	}
	return nil
}

// challenge holds c and returns what the browser needs.
func (s *Service) challenge(c *ceremony, options any) (PasskeyChallenge, error) {
	b, err := json.Marshal(options)
	if err != nil {
		return PasskeyChallenge{}, fmt.Errorf("passkey options: %w", err)
	}
	return PasskeyChallenge{ID: s.pk.ceremonies.put(c), Options: b}, nil
}

// FinishPasskeyRegistration checks the browser's response to ceremony id
// (begun for p's user) and stores the new passkey.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, p Proof, id string, response []byte) (PasskeyInfo, error) {
	if s.pk == nil {
		return PasskeyInfo{}, ErrPasskeysOff
	}
	c, err := s.pk.ceremonies.take(id, ceremonyRegister)
	if err != nil {
		return PasskeyInfo{}, err
	}
	if c.user != p.user {
		return PasskeyInfo{}, fmt.Errorf("%w: begun for another user: start again", ErrCeremony)
	}
	if err := s.canRegister(p); err != nil {
		return PasskeyInfo{}, err
	}
	if len(response) > MaxPasskeyResponse {
		return PasskeyInfo{}, fmt.Errorf("%w: the response is over %d bytes", ErrPasskeyInvalid, MaxPasskeyResponse)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return PasskeyInfo{}, fmt.Errorf("%w: %s", ErrPasskeyInvalid, detail(err))
	}
	if a, err := s.store.Account(ctx, p.user); err != nil {
		return PasskeyInfo{}, fmt.Errorf("passkey for %q: %w", p.user, err)
	} else if !a.DisabledAt.IsZero() {
		return PasskeyInfo{}, fmt.Errorf("user %q: %w: ask an admin to enable it", p.user, ErrUserDisabled)
	}
	u, err := s.loadPasskeyUser(ctx, p.user)
	if err != nil {
		return PasskeyInfo{}, err
	}
	cred, err := s.pk.rp.CreateCredential(u, c.data, parsed)
	if err != nil {
		s.log.Warn("passkey registration refused", "user", p.user, "err", detail(err))
		return PasskeyInfo{}, fmt.Errorf("%w: %s", ErrPasskeyInvalid, detail(err))
	}
	blob, err := json.Marshal(cred)
	if err != nil {
		return PasskeyInfo{}, fmt.Errorf("passkey %q: %w", c.name, err)
	}
	now := s.clock.Now()
	row := store.Passkey{ID: base64.RawURLEncoding.EncodeToString(cred.ID), User: p.user, Name: c.name,
		Credential: blob, SignCount: cred.Authenticator.SignCount, CreatedAt: now}
	if err := s.store.CreatePasskey(ctx, row); err != nil {
		return PasskeyInfo{}, fmt.Errorf("passkey %q for %q: %w", c.name, p.user, err)
	}
	s.emit(Event{Kind: PasskeyAdded, User: p.user, Detail: c.name})
	return PasskeyInfo{ID: row.ID, Name: row.Name, CreatedAt: now}, nil
}

// BeginPasskeyLogin starts a passkey sign-in: for user, or with user ""
// for whoever's passkey the authenticator offers (a discoverable
// credential). An unknown user, or one without passkeys, gets a
// challenge too (one no passkey can answer), so the answer tells no
// names.
func (s *Service) BeginPasskeyLogin(ctx context.Context, user string) (PasskeyChallenge, error) {
	if s.pk == nil {
		return PasskeyChallenge{}, ErrPasskeysOff
	}
	uv := webauthn.WithUserVerification(protocol.VerificationRequired)
	var u *passkeyUser
	if user != "" {
		if _, err := s.store.GetUser(ctx, user); err == nil {
			if u, err = s.loadPasskeyUser(ctx, user); err != nil {
				return PasskeyChallenge{}, err
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return PasskeyChallenge{}, fmt.Errorf("passkey sign-in of %q: %w", user, err)
		}
	}
	var (
		assertion *protocol.CredentialAssertion
		data      *webauthn.SessionData
		err       error
	)
	if u != nil && len(u.creds) > 0 {
		assertion, data, err = s.pk.rp.BeginLogin(u, uv)
	} else {
		assertion, data, err = s.pk.rp.BeginDiscoverableLogin(uv)
	}
	if err != nil {
		return PasskeyChallenge{}, fmt.Errorf("begin passkey sign-in: %w", err)
	}
	return s.challenge(&ceremony{kind: ceremonyLogin, user: user, data: *data}, assertion)
}

// FinishPasskeyLogin checks the browser's response to sign-in ceremony
// id and returns the Proof: method "webauthn", MFA done now (the
// authenticator verified the user). It is throttled like CheckPassword,
// in the same backoff: *ThrottledError before the wait ran out. A
// response that does not verify (another origin or relying party, a bad
// signature, an unknown passkey, a used or expired ceremony) is
// ErrPasskeyInvalid or ErrCeremony; a passkey whose signature counter
// went backwards (a cloned authenticator) is refused and logged.
func (s *Service) FinishPasskeyLogin(ctx context.Context, id string, response []byte, source netip.Addr) (Proof, error) {
	if s.pk == nil {
		return Proof{}, ErrPasskeysOff
	}
	c, cerr := s.pk.ceremonies.take(id, ceremonyLogin)
	var parsed *protocol.ParsedCredentialAssertionData
	var perr error
	if len(response) > MaxPasskeyResponse {
		perr = fmt.Errorf("the response is over %d bytes", MaxPasskeyResponse)
	} else {
		parsed, perr = protocol.ParseCredentialRequestResponseBytes(response)
	}
	account := ""
	switch {
	case c != nil && c.user != "":
		account = c.user
	case parsed != nil && len(parsed.Response.UserHandle) > 0:
		if u, err := s.store.UserByWebAuthnHandle(ctx, parsed.Response.UserHandle); err == nil {
			account = u
		}
	}
	return s.throttled(account, source, func() (Proof, error) {
		switch {
		case cerr != nil:
			return Proof{}, &loginFailure{failCeremony, cerr}
		case perr != nil:
			return Proof{}, &loginFailure{failBadPasskey, fmt.Errorf("%w: %s", ErrPasskeyInvalid, detail(perr))}
		}
		return s.checkPasskey(ctx, c, account, parsed)
	})
}

// checkPasskey verifies a parsed assertion for ceremony c; account is the
// user it names ("" when unknown).
func (s *Service) checkPasskey(ctx context.Context, c *ceremony, account string, parsed *protocol.ParsedCredentialAssertionData) (Proof, error) {
	refused := func(reason string, err error) (Proof, error) {
		s.log.Warn("passkey sign-in refused", "user", account, "reason", reason, "err", detail(err))
		return Proof{}, &loginFailure{reason, fmt.Errorf("%w: %s", ErrPasskeyInvalid, detail(err))}
	}
	if account == "" {
		return refused(failUnknownPasskey, errors.New("no user has this passkey"))
	}
	u, err := s.loadPasskeyUser(ctx, account)
	if errors.Is(err, store.ErrNotFound) {
		return refused(failUnknownPasskey, err)
	}
	if err != nil {
		return Proof{}, err
	}
	var cred *webauthn.Credential
	if len(c.data.UserID) > 0 {
		cred, err = s.pk.rp.ValidateLogin(u, c.data, parsed)
	} else {
		cred, err = s.pk.rp.ValidateDiscoverableLogin(func(_, _ []byte) (webauthn.User, error) { return u, nil }, c.data, parsed)
	}
	if err != nil {
		return refused(failBadPasskey, err)
	}
	credID := base64.RawURLEncoding.EncodeToString(cred.ID)
	if cred.Authenticator.CloneWarning {
		s.log.Warn("passkey refused: its signature counter went backwards: the authenticator may be cloned; the user should delete this passkey",
			"user", account, "passkey", credID, "counter", parsed.Response.AuthenticatorData.Counter)
		return Proof{}, &loginFailure{failSignCount, fmt.Errorf("%w: this passkey's counter went backwards (a copied key?): use another passkey or your password, and tell an admin", ErrPasskeyInvalid)}
	}
	a, err := s.store.Account(ctx, account)
	if err != nil {
		return Proof{}, fmt.Errorf("sign in %q: %w", account, err)
	}
	if !a.DisabledAt.IsZero() {
		return Proof{}, &loginFailure{failDisabled, fmt.Errorf("user %q: %w: ask an admin to enable it", account, ErrUserDisabled)}
	}
	now := s.clock.Now()
	if err := s.store.UsePasskey(ctx, credID, cred.Authenticator.SignCount, now); errors.Is(err, store.ErrReplayed) {
		s.log.Warn("passkey refused: its signature counter went backwards (a concurrent sign-in counted further)", "user", account, "passkey", credID)
		return Proof{}, &loginFailure{failSignCount, fmt.Errorf("%w: this passkey's counter went backwards: use another passkey or your password", ErrPasskeyInvalid)}
	} else if err != nil {
		return Proof{}, fmt.Errorf("sign in %q: %w", account, err)
	}
	return Proof{user: account, methods: []string{MethodPasskey}, authAt: now, mfaAt: now}, nil
}

// detail is what go-webauthn says went wrong, with its details.
func detail(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Details != "" {
		return pe.Details
	}
	return err.Error()
}

// Passkeys lists user's passkeys by name.
func (s *Service) Passkeys(ctx context.Context, user string) ([]PasskeyInfo, error) {
	rows, err := s.store.Passkeys(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("passkeys of %q: %w", user, err)
	}
	out := make([]PasskeyInfo, 0, len(rows))
	for _, r := range rows {
		out = append(out, PasskeyInfo{ID: r.ID, Name: r.Name, CreatedAt: r.CreatedAt, LastUsedAt: r.LastUsedAt})
	}
	return out, nil
}

// DeletePasskey deletes user's passkey id. ErrNotFound if user has no
// such passkey.
func (s *Service) DeletePasskey(ctx context.Context, user, id string) error {
	rows, err := s.store.Passkeys(ctx, user)
	if err != nil {
		return fmt.Errorf("passkeys of %q: %w", user, err)
	}
	if err := s.store.DeletePasskey(ctx, user, id); err != nil {
		return err
	}
	name := ""
	for _, r := range rows {
		if r.ID == id {
			name = r.Name
		}
	}
	s.emit(Event{Kind: PasskeyRemoved, User: user, Detail: name})
	return nil
}
