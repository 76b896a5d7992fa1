package identity

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// Authentication methods a Proof can carry (RFC 8176 amr values).
const (
	MethodPassword  = "pwd"
	MethodTOTP      = "otp"
	MethodPasskey   = "webauthn" // as api.SessionInfo names it (RFC 8176 would say hwk)
	MethodFederated = "fed"
)

// Proof is what a successful sign-in established: who, how, when. Only
// this package makes one (CheckPassword, the OIDC sign-in), so holding a
// Proof means the checks ran; StartSession takes nothing else.
type Proof struct {
	user    string
	methods []string
	authAt  time.Time
	mfaAt   time.Time      // zero without a second factor
	via     *upstreamProof // set for a sign-in through an upstream IdP
}

// User is who signed in.
func (p Proof) User() string { return p.user }

// Methods are how (amr values).
func (p Proof) Methods() []string { return append([]string(nil), p.methods...) }

// MFA says whether a second factor was part of it.
func (p Proof) MFA() bool { return !p.mfaAt.IsZero() }

// Login is one sign-in attempt with built-in credentials.
type Login struct {
	User     string
	Password string
	Code     string     // TOTP code; may be empty until ErrMFARequired asks for it
	Source   netip.Addr // the client's address, for the throttle
}

// Why a sign-in failed, in LoginFailed events (never told to the client).
const (
	failUnknownUser  = "unknown_user"
	failNoPassword   = "no_password"
	failBadPassword  = "bad_password"
	failBadCode      = "bad_code"
	failCodeReplayed = "code_replayed"
	failDisabled     = "user_disabled"
)

// loginFailure is a failed sign-in: its reason for the event, and the
// error for the caller.
type loginFailure struct {
	reason string
	err    error
}

func (f *loginFailure) Error() string { return f.err.Error() }
func (f *loginFailure) Unwrap() error { return f.err }

// CheckPassword checks a sign-in with a password and, if the account has
// TOTP, a code. It is throttled per account and per source:
// *ThrottledError (ErrThrottled) before the backoff ran out, without
// checking anything. Wrong credentials, unknown and disabled users are
// ErrBadCredentials or ErrUserDisabled and count as failures; a right
// password without its code is ErrMFARequired and counts as nothing.
func (s *Service) CheckPassword(ctx context.Context, in Login) (Proof, error) {
	return s.throttled(in.User, in.Source, func() (Proof, error) { return s.checkPassword(ctx, in) })
}

// throttled runs check as one sign-in attempt on account from source:
// refused unchecked during a backoff; a *loginFailure counts as a failure,
// success clears, anything else (a factor to ask for, trouble on our
// side) counts as nothing. Passwords and passkeys share it.
func (s *Service) throttled(account string, source netip.Addr, check func() (Proof, error)) (Proof, error) {
	attempt, wait := s.throttle.Begin(account, source)
	if attempt == nil {
		s.emit(Event{Kind: LoginThrottled, User: account, Source: source})
		return Proof{}, &ThrottledError{RetryAfter: wait}
	}
	p, err := check()
	who := account // a passkey may name its user only in its answer
	if err == nil {
		who = p.user
	}
	s.settle(attempt, who, source, err, p.methods...)
	return p, err
}

func (s *Service) checkPassword(ctx context.Context, in Login) (Proof, error) {
	a, rehash, err := s.checkFirstFactor(ctx, in)
	if err != nil {
		return Proof{}, err
	}
	now := s.clock.Now()
	p := Proof{user: in.User, methods: []string{MethodPassword}, authAt: now}
	if a.TOTPSecret != "" {
		if in.Code == "" {
			return Proof{}, fmt.Errorf("%w: enter the code from your authenticator app", ErrMFARequired)
		}
		if err := s.checkCode(ctx, a, in.Code, now); err != nil {
			return Proof{}, err
		}
		p.methods, p.mfaAt = append(p.methods, MethodTOTP), now
	}
	if rehash {
		s.rehash(ctx, in.User, a.PasswordHash, in.Password)
	}
	return p, nil
}

// badCredentials is the one failure a client is told about.
func badCredentials(reason string) error {
	return &loginFailure{reason, fmt.Errorf("%w: check them and try again", ErrBadCredentials)}
}

// checkFirstFactor checks in's password: the account it matched, and
// whether its hash wants redoing with the current parameters.
func (s *Service) checkFirstFactor(ctx context.Context, in Login) (store.Account, bool, error) {
	a, err := s.store.Account(ctx, in.User)
	if errors.Is(err, store.ErrNotFound) || (err == nil && a.PasswordHash == "") {
		// Spend what a real check costs, so timing tells no names.
		if err := s.hash(ctx, func() { VerifyPassword(s.cfg.Password, s.dummyHash(), in.Password) }); err != nil {
			return a, false, err
		}
		if a.User == "" {
			return a, false, badCredentials(failUnknownUser)
		}
		return a, false, badCredentials(failNoPassword)
	}
	if err != nil {
		return a, false, fmt.Errorf("sign in %q: %w", in.User, err)
	}
	var ok, rehash bool
	var verr error
	if err := s.hash(ctx, func() { ok, rehash, verr = VerifyPassword(s.cfg.Password, a.PasswordHash, in.Password) }); err != nil {
		return a, false, err
	}
	if verr != nil {
		return a, false, fmt.Errorf("sign in %q: %w", in.User, verr)
	}
	if !ok {
		return a, false, badCredentials(failBadPassword)
	}
	if !a.DisabledAt.IsZero() {
		return a, false, &loginFailure{failDisabled, fmt.Errorf("user %q: %w: ask an admin to enable it", in.User, ErrUserDisabled)}
	}
	return a, rehash, nil
}

// checkCode checks a's TOTP code at now and spends its step.
func (s *Service) checkCode(ctx context.Context, a store.Account, code string, now time.Time) error {
	step, err := matchTOTP(a.TOTPSecret, code, now, a.TOTPLastStep)
	if errors.Is(err, errCodeReplayed) {
		return badCredentials(failCodeReplayed)
	}
	if err != nil {
		return badCredentials(failBadCode)
	}
	if err := s.store.UseTOTPStep(ctx, a.User, step); errors.Is(err, store.ErrReplayed) {
		return badCredentials(failCodeReplayed) // another sign-in spent it a moment ago
	} else if err != nil {
		return fmt.Errorf("sign in %q: %w", a.User, err)
	}
	return nil
}

// rehash replaces user's password hash made with old parameters; failing
// that only costs the same again at the next sign-in.
// It returns the hash stored afterwards as far as it knows (old when the
// upgrade did not happen).
func (s *Service) rehash(ctx context.Context, user, old, password string) string {
	var h string
	var err error
	if herr := s.hash(ctx, func() { h, err = HashPassword(s.cfg.Password, password) }); herr != nil {
		err = herr
	}
	if err == nil {
		err = s.store.ReplacePasswordHash(ctx, user, old, h)
	}
	if err != nil {
		if !errors.Is(err, store.ErrChanged) {
			s.log.Warn("password hash not upgraded to the current parameters", "user", user, "err", err)
		}
		return old
	}
	return h
}

// dummyHash is a hash nobody's password matches, made with the Service's
// parameters, to check unknown users against.
func (s *Service) dummyHash() string {
	s.dummyOnce.Do(func() {
		s.dummy, _ = HashPassword(s.cfg.Password, "no user has this password")
	})
	return s.dummy
}

// SetPassword sets user's built-in password after checking it is
// acceptable (MinPasswordLen, MaxPasswordLen), and ends every session of
// user (ReasonPasswordChanged): whoever knew the old password is out.
func (s *Service) SetPassword(ctx context.Context, user, password string) error {
	return s.setPassword(ctx, user, password, "", "user:"+user)
}

// ResetPassword is an admin setting user's password (users write); every
// session of user ends.
func (s *Service) ResetPassword(ctx context.Context, by Principal, user, password string) error {
	if err := by.Can(Permission{AreaUsers, Write}); err != nil {
		return err
	}
	return s.setPassword(ctx, user, password, "", by.String())
}

// ChangeOwnPassword is the user of sess changing their password: their
// other sessions end, sess stays.
func (s *Service) ChangeOwnPassword(ctx context.Context, sess Session, password string) error {
	return s.setPassword(ctx, sess.User, password, sess.ID, "user:"+sess.User)
}

// setPassword stores the hash of password for user and revokes, in the
// same transaction, every live session of user but keep.
func (s *Service) setPassword(ctx context.Context, user, password, keep, by string) error {
	h, err := s.newPasswordHash(ctx, password)
	if err != nil {
		return fmt.Errorf("password for %q: %w", user, err)
	}
	revoked, err := s.store.ChangePassword(ctx, user, h, keep, s.clock.Now())
	if err != nil {
		return fmt.Errorf("password for %q: %w", user, err)
	}
	s.emitRevoked(revoked, by)
	return nil
}

// newPasswordHash checks password and hashes it in a hashing slot.
func (s *Service) newPasswordHash(ctx context.Context, password string) (string, error) {
	if err := checkNewPassword(password); err != nil {
		return "", err
	}
	var h string
	var err error
	if herr := s.hash(ctx, func() { h, err = HashPassword(s.cfg.Password, password) }); herr != nil {
		return "", herr
	}
	return h, err
}

// Unlock clears user's sign-in backoff (an admin or helpdesk action).
func (s *Service) Unlock(by Principal, user string) error {
	if err := by.Can(Permission{AreaSessions, Write}); err != nil {
		return err
	}
	s.throttle.Unlock(user)
	s.emit(Event{Kind: LoginUnlocked, User: user, By: by.String()})
	return nil
}
