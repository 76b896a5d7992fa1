package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// A sign-in in two steps (the login pages): the password first, then the
// TOTP code. Between them identity keeps a FirstFactor — "this password
// was right" — so the caller never has to keep the password for the
// second step.

// DefaultFirstFactorTTL is how long a FirstFactor waits for its code.
const DefaultFirstFactorTTL = 5 * time.Minute

// Bounds of the first factors held.
const (
	// maxFirstFactors bounds the half-proofs in memory; past it expired
	// ones go, then the oldest (its person enters the password again).
	maxFirstFactors = 10000
	// maxCodeTries is how many wrong codes one FirstFactor takes before
	// it is spent (each is also a failure on the sign-in throttle).
	maxCodeTries = 5
)

// ErrFirstFactorSpent: the FirstFactor is unknown, expired, spent, or
// presented for another sign-in (binding) than it was made for.
var ErrFirstFactorSpent = errors.New("password step expired or already used")

// FirstFactor is a half-proof: user's password was right and the account
// needs its TOTP code too. Only SignInPassword makes one; CompleteTOTP
// turns it into a Proof with a valid code, once, before it expires, when
// given the same binding (the caller's sign-in, e.g. a browser session).
// It carries no password; what it stands for is held by the Service.
type FirstFactor struct {
	id        string // key in Service.firstFactors (256 random bits)
	user      string
	expiresAt time.Time
}

// User is whose password was checked.
func (f FirstFactor) User() string { return f.user }

// ExpiresAt is when the code step stops being accepted.
func (f FirstFactor) ExpiresAt() time.Time { return f.expiresAt }

// firstFactor is what the Service keeps for a FirstFactor.
type firstFactor struct {
	user         string
	binding      [32]byte  // SHA-256 of the caller's binding
	passwordHash string    // the hash the password matched: a change in between voids it
	authAt       time.Time // when the password was checked
	expiresAt    time.Time
	wrongCodes   int
}

// firstFactors holds the FirstFactors waiting for their code.
type firstFactors struct {
	mu sync.Mutex // guards m
	m  map[string]*firstFactor
}

// put adds ff under id; when full, expired ones go, then the oldest.
func (fs *firstFactors) put(id string, ff *firstFactor, now time.Time) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.m == nil {
		fs.m = map[string]*firstFactor{}
	}
	if len(fs.m) >= maxFirstFactors {
		oldest := ""
		for k, v := range fs.m {
			if !now.Before(v.expiresAt) {
				delete(fs.m, k)
			} else if oldest == "" || v.expiresAt.Before(fs.m[oldest].expiresAt) {
				oldest = k
			}
		}
		if len(fs.m) >= maxFirstFactors {
			delete(fs.m, oldest)
		}
	}
	fs.m[id] = ff
}

// take removes and returns the live FirstFactor id, if its binding
// matches; a wrong binding spends it too.
func (fs *firstFactors) take(id string, binding [32]byte, now time.Time) (*firstFactor, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	ff, ok := fs.m[id]
	delete(fs.m, id)
	if !ok || !now.Before(ff.expiresAt) || subtle.ConstantTimeCompare(ff.binding[:], binding[:]) != 1 {
		return nil, false
	}
	return ff, true
}

// putBack returns ff after a wrong code, unless it has had its tries.
func (fs *firstFactors) putBack(id string, ff *firstFactor, now time.Time) {
	ff.wrongCodes++
	if ff.wrongCodes >= maxCodeTries {
		return
	}
	fs.put(id, ff, now)
}

// SignInPassword is the first step of a sign-in in two steps: it checks
// in's password (in.Code is not used), throttled as CheckPassword is. An
// account without TOTP is signed in: its Proof. An account with TOTP gets
// a FirstFactor and ErrMFARequired (counted as nothing): finish with
// CompleteTOTP and the same binding, within FirstFactorTTL.
func (s *Service) SignInPassword(ctx context.Context, in Login, binding string) (Proof, FirstFactor, error) {
	attempt, wait := s.throttle.Begin(in.User, in.Source)
	if attempt == nil {
		s.emit(Event{Kind: LoginThrottled, User: in.User, Source: in.Source})
		return Proof{}, FirstFactor{}, &ThrottledError{RetryAfter: wait}
	}
	a, rehash, err := s.checkFirstFactor(ctx, in)
	if err != nil {
		s.settle(attempt, in.User, in.Source, err)
		return Proof{}, FirstFactor{}, err
	}
	hash := a.PasswordHash
	if rehash {
		hash = s.rehash(ctx, in.User, a.PasswordHash, in.Password)
	}
	now := s.clock.Now()
	if a.TOTPSecret == "" {
		p := Proof{user: in.User, methods: []string{MethodPassword}, authAt: now}
		s.settle(attempt, in.User, in.Source, nil, p.methods...)
		return p, FirstFactor{}, nil
	}
	attempt.Cancel() // a right password still needing its code counts as nothing
	id := rand.Text() + rand.Text()
	ff := &firstFactor{user: in.User, binding: sha256.Sum256([]byte(binding)), passwordHash: hash,
		authAt: now, expiresAt: now.Add(s.cfg.FirstFactorTTL)}
	s.firstFactors.put(id, ff, now)
	return Proof{}, FirstFactor{id: id, user: in.User, expiresAt: ff.expiresAt},
		fmt.Errorf("%w: enter the code from your authenticator app", ErrMFARequired)
}

// CompleteTOTP is the second step: with a valid TOTP code of the
// FirstFactor's user (a step not used before), presented with the
// binding it was made for, it returns the Proof (password and TOTP) and
// spends the FirstFactor. A wrong code is a failure on the throttle; the
// FirstFactor takes maxCodeTries of them, then is spent. A FirstFactor
// unknown, expired, spent, or given another binding is
// ErrFirstFactorSpent (enter the password again); so is one whose
// account changed password, lost its TOTP or was disabled in between.
func (s *Service) CompleteTOTP(ctx context.Context, f FirstFactor, binding, code string, source netip.Addr) (Proof, error) {
	now := s.clock.Now()
	ff, ok := s.firstFactors.take(f.id, sha256.Sum256([]byte(binding)), now)
	if !ok {
		return Proof{}, fmt.Errorf("%w: sign in again with your password", ErrFirstFactorSpent)
	}
	attempt, wait := s.throttle.Begin(ff.user, source)
	if attempt == nil {
		s.firstFactors.put(f.id, ff, now) // the wait is no try
		s.emit(Event{Kind: LoginThrottled, User: ff.user, Source: source})
		return Proof{}, &ThrottledError{RetryAfter: wait}
	}
	a, err := s.store.Account(ctx, ff.user)
	if err != nil {
		attempt.Cancel()
		return Proof{}, fmt.Errorf("sign in %q: %w", ff.user, err)
	}
	switch {
	case !a.DisabledAt.IsZero():
		err = &loginFailure{failDisabled, fmt.Errorf("user %q: %w: ask an admin to enable it", ff.user, ErrUserDisabled)}
	case a.PasswordHash != ff.passwordHash || a.TOTPSecret == "":
		attempt.Cancel()
		return Proof{}, fmt.Errorf("%w: the account's password or second factor changed meanwhile: sign in again with your password", ErrFirstFactorSpent)
	case code == "":
		err = badCredentials(failBadCode)
	default:
		err = s.checkCode(ctx, a, code, now)
	}
	if err != nil {
		if _, failed := errors.AsType[*loginFailure](err); failed {
			s.firstFactors.putBack(f.id, ff, now)
		}
		s.settle(attempt, ff.user, source, err)
		return Proof{}, err
	}
	p := Proof{user: ff.user, methods: []string{MethodPassword, MethodTOTP}, authAt: ff.authAt, mfaAt: now}
	s.settle(attempt, ff.user, source, nil, p.methods...)
	return p, nil
}

// settle books an attempt's outcome on the throttle and emits its event:
// err nil is a success (with methods), a *loginFailure a failure, and
// anything else (a code to ask for, trouble on our side) nothing.
func (s *Service) settle(attempt *Attempt, user string, source netip.Addr, err error, methods ...string) {
	fail, failed := errors.AsType[*loginFailure](err)
	switch {
	case err == nil:
		attempt.Pass()
		s.emit(Event{Kind: LoginSucceeded, User: user, Source: source, Detail: fmt.Sprint(methods)})
	case failed:
		attempt.Fail()
		s.emit(Event{Kind: LoginFailed, User: user, Source: source, Reason: fail.reason})
	default:
		attempt.Cancel()
	}
}
