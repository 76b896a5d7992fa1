package identity

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse-ztna/gatehouse/controller/identity/oidc"
)

// Config sets lifetimes, costs and limits; zero fields take the defaults.
type Config struct {
	// AccessTTL is an access token's lifetime (default 10 minutes): the
	// longest a stolen access token works without its refresh token.
	AccessTTL time.Duration
	// RefreshTTL is how long a session may go unrefreshed (default 7
	// days): a laptop closed for longer signs in again.
	RefreshTTL time.Duration
	// SessionMax is a session's absolute lifetime from sign-in (default 30
	// days); policies may ask for less.
	SessionMax time.Duration
	// AdminMFAMaxAge is how old a session's second factor may be for its
	// user to act as an admin (default 12 hours).
	AdminMFAMaxAge time.Duration
	// Password are argon2id's parameters for new hashes (default
	// DefaultPasswordParams); hashes made with others are redone at sign-in.
	Password PasswordParams
	// MaxHashing bounds concurrent password hashes (default 4): each takes
	// Password.Memory, so a flood of sign-ins cannot exhaust memory.
	MaxHashing int
	// Throttle is the sign-in backoff (default DefaultThrottle).
	Throttle ThrottleConfig
	// FirstFactorTTL is how long a password checked by SignInPassword
	// waits for its TOTP code (default DefaultFirstFactorTTL).
	FirstFactorTTL time.Duration
	// TOTPIssuer names the controller in authenticator apps (default
	// "Gatehouse").
	TOTPIssuer string
	// Upstreams are the OIDC identity providers users may sign in
	// through (none by default; see upstream.go).
	Upstreams []*oidc.Provider
	// Directory is where upstream sign-ins make users and set their
	// groups (default: the store, re-deciding nothing; the controller
	// gives its core, which re-decides grants at once).
	Directory Directory
	// Passkeys sets WebAuthn up (off without a relying party ID; see
	// passkeys.go).
	Passkeys PasskeyConfig
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.AccessTTL, 10*time.Minute)
	def(&c.RefreshTTL, 7*24*time.Hour)
	def(&c.SessionMax, 30*24*time.Hour)
	def(&c.AdminMFAMaxAge, 12*time.Hour)
	def(&c.FirstFactorTTL, DefaultFirstFactorTTL)
	if c.Password == (PasswordParams{}) {
		c.Password = DefaultPasswordParams
	}
	if c.MaxHashing == 0 {
		c.MaxHashing = 4
	}
	if c.Throttle == (ThrottleConfig{}) {
		c.Throttle = DefaultThrottle
	}
	if c.TOTPIssuer == "" {
		c.TOTPIssuer = "Gatehouse"
	}
	c.Upstreams = slices.Clone(c.Upstreams)
	return c
}

// Service is the identity room. Its methods are safe for concurrent use;
// each store change is one transaction, and events follow its commit.
type Service struct {
	cfg      Config
	store    Store
	clock    Clock
	log      *slog.Logger
	throttle *Throttle
	hashing  chan struct{} // a slot per password hash running
	subs     subscribers
	pk       *passkeys // nil when passkeys are off

	firstFactors firstFactors // passwords checked, waiting for their TOTP code

	dummyOnce sync.Once // makes dummy
	dummy     string    // a hash that unknown users are checked against
}

// New returns a Service over st.
func New(st Store, clock Clock, cfg Config, log *slog.Logger) *Service {
	cfg = cfg.withDefaults()
	pk, err := newPasskeys(cfg.Passkeys, clock)
	if err != nil { // fail closed: no passkeys rather than half-checked ones
		log.Error("passkeys are off", "err", err)
	}
	return &Service{
		cfg: cfg, store: st, clock: clock, log: log,
		throttle: NewThrottle(cfg.Throttle, clock),
		hashing:  make(chan struct{}, cfg.MaxHashing),
		pk:       pk,
	}
}

// Config returns the configuration in force, defaults filled in.
func (s *Service) Config() Config { return s.cfg }

// hash runs f in a hashing slot, waiting for one until ctx ends.
func (s *Service) hash(ctx context.Context, f func()) error {
	select {
	case s.hashing <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("wait to check password: %w", ctx.Err())
	}
	defer func() { <-s.hashing }()
	f()
	return nil
}
