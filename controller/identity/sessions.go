package identity

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// Session is a user's sign-in session on one device (the store's record).
type Session = store.Session

// Tokens are a session's bearer tokens, given to the device once.
type Tokens struct {
	Access           string
	AccessExpiresAt  time.Time
	Refresh          string
	RefreshExpiresAt time.Time
}

// Reasons a Service revokes a session for (Session.RevokeReason), beside
// the store's own (refresh_reused, wrong_device, user_disabled,
// device_blocked).
const (
	ReasonLogout = "logout"
	ReasonAdmin  = "admin"
	// ReasonPasswordChanged: the user's password changed (the store's reason).
	ReasonPasswordChanged = store.ReasonPasswordChanged
)

// newTokens makes a fresh access and refresh token from now: the tokens
// for the device and their hashes for the store. The refresh token never
// outlives the session.
func (s *Service) newTokens(now, sessionEnd time.Time) (Tokens, store.TokenSet, error) {
	access, accessHash, err := newToken(accessPrefix)
	if err != nil {
		return Tokens{}, store.TokenSet{}, err
	}
	refresh, refreshHash, err := newToken(refreshPrefix)
	if err != nil {
		return Tokens{}, store.TokenSet{}, err
	}
	refreshEnd := now.Add(s.cfg.RefreshTTL)
	if refreshEnd.After(sessionEnd) {
		refreshEnd = sessionEnd
	}
	accessEnd := now.Add(s.cfg.AccessTTL)
	if accessEnd.After(sessionEnd) {
		accessEnd = sessionEnd
	}
	t := Tokens{Access: access, AccessExpiresAt: accessEnd, Refresh: refresh, RefreshExpiresAt: refreshEnd}
	return t, store.TokenSet{AccessHash: accessHash, AccessExpiresAt: accessEnd, RefreshHash: refreshHash, RefreshExpiresAt: refreshEnd}, nil
}

// StartSession opens a session for p's user, bound to device (an enrolled
// device's ID, or a browser's own random ID), and returns its tokens.
// ErrUserDisabled, ErrDeviceBlocked and ErrNotFound (user gone) refuse it.
func (s *Service) StartSession(ctx context.Context, p Proof, device string) (Session, Tokens, error) {
	if p.user == "" {
		return Session{}, Tokens{}, errors.New("start session: no sign-in proof")
	}
	if device == "" {
		return Session{}, Tokens{}, fmt.Errorf("start session for %q: no device to bind it to", p.user)
	}
	now := s.clock.Now()
	sess := Session{
		ID: rand.Text(), User: p.user, Device: device, Methods: p.Methods(),
		AuthAt: p.authAt, MFAAt: p.mfaAt, CreatedAt: now, ExpiresAt: p.authAt.Add(s.cfg.SessionMax),
	}
	tok, hashes, err := s.newTokens(now, sess.ExpiresAt)
	if err != nil {
		return Session{}, Tokens{}, err
	}
	if err := s.createSession(ctx, p, sess, hashes); err != nil {
		return Session{}, Tokens{}, fmt.Errorf("start session for %q: %w", p.user, hint(err))
	}
	sess.AccessExpiresAt, sess.RefreshExpiresAt, sess.Generation = hashes.AccessExpiresAt, hashes.RefreshExpiresAt, 1
	s.emit(Event{Kind: SessionCreated, User: sess.User, Session: sess.ID, Device: device, Detail: fmt.Sprint(sess.Methods)})
	return sess, tok, nil
}

// Authenticate returns the live session whose access token this is,
// presented by device. A token presented by another device revokes its
// session (ErrWrongDevice): whoever holds it stole it.
func (s *Service) Authenticate(ctx context.Context, access, device string) (Session, error) {
	h, err := tokenHash(access, accessPrefix)
	if err != nil {
		return Session{}, err
	}
	sess, err := s.store.SessionByAccess(ctx, h)
	if errors.Is(err, store.ErrNotFound) {
		return Session{}, fmt.Errorf("%w: refresh it, or %s", ErrTokenInvalid, signInAgain)
	}
	if err != nil {
		return Session{}, fmt.Errorf("check access token: %w", err)
	}
	now := s.clock.Now()
	switch {
	case !sess.RevokedAt.IsZero():
		return Session{}, fmt.Errorf("session of %q: %w (%s): %s", sess.User, ErrSessionRevoked, sess.RevokeReason, signInAgain)
	case sess.Device != device:
		s.theft(ctx, sess, device, WrongDevice, store.ReasonWrongDevice)
		return Session{}, fmt.Errorf("session of %q: %w: %s on this device", sess.User, ErrWrongDevice, signInAgain)
	case !now.Before(sess.AccessExpiresAt):
		return Session{}, fmt.Errorf("access token of %q: %w: refresh it", sess.User, ErrSessionExpired)
	}
	return sess, nil
}

// theft revokes sess after its token turned up where it must not; the
// store revoked it already if its revocation is in sess.
func (s *Service) theft(ctx context.Context, sess Session, device string, kind Kind, reason string) {
	s.log.Warn("session token presented where it must not be: session revoked",
		"user", sess.User, "session", sess.ID, "device", sess.Device, "presented_by", device, "reason", reason)
	s.emit(Event{Kind: kind, User: sess.User, Session: sess.ID, Device: sess.Device, Reason: reason, Detail: device})
	revoked := []Session{sess}
	if sess.RevokedAt.IsZero() {
		var err error
		if revoked, err = s.store.RevokeSession(ctx, sess.ID, s.clock.Now(), reason); err != nil {
			s.log.Error("revoke session after token theft", "session", sess.ID, "err", err)
			return
		}
	}
	s.emitRevoked(revoked, "")
}

// Refresh spends refresh, presented by device, and returns the session's
// new tokens: the old access and refresh tokens stop working. A refresh
// token spent before (ErrRefreshReused) or presented by another device
// (ErrWrongDevice) revokes the session.
func (s *Service) Refresh(ctx context.Context, refresh, device string) (Session, Tokens, error) {
	h, err := tokenHash(refresh, refreshPrefix)
	if err != nil {
		return Session{}, Tokens{}, err
	}
	if err := s.refreshUpstream(ctx, h, device); err != nil {
		return Session{}, Tokens{}, err
	}
	now := s.clock.Now()
	// The session's end is not known before the store finds it: the store
	// caps the new lifetimes at it, and the device is told the capped ones.
	tok, hashes, err := s.newTokens(now, now.Add(s.cfg.SessionMax))
	if err != nil {
		return Session{}, Tokens{}, err
	}
	sess, err := s.store.RotateRefresh(ctx, h, device, now, hashes)
	switch {
	case errors.Is(err, store.ErrRefreshReused):
		s.theft(ctx, sess, device, RefreshReused, store.ReasonRefreshReused)
		return Session{}, Tokens{}, fmt.Errorf("%w: the session was ended because its refresh token was used twice: %s", ErrRefreshReused, signInAgain)
	case errors.Is(err, store.ErrWrongDevice):
		s.theft(ctx, sess, device, WrongDevice, store.ReasonWrongDevice)
		return Session{}, Tokens{}, fmt.Errorf("%w: %s on this device", ErrWrongDevice, signInAgain)
	case errors.Is(err, store.ErrNotFound):
		return Session{}, Tokens{}, fmt.Errorf("%w: %s", ErrTokenInvalid, signInAgain)
	case err != nil:
		return Session{}, Tokens{}, fmt.Errorf("refresh: %w", hint(err))
	}
	tok.AccessExpiresAt, tok.RefreshExpiresAt = sess.AccessExpiresAt, sess.RefreshExpiresAt
	s.emit(Event{Kind: SessionRefreshed, User: sess.User, Session: sess.ID, Device: device})
	return sess, tok, nil
}

// hint adds the next step to an error from the store.
func hint(err error) error {
	switch {
	case errors.Is(err, store.ErrSessionExpired), errors.Is(err, store.ErrSessionRevoked):
		return fmt.Errorf("%w: %s", err, signInAgain)
	case errors.Is(err, store.ErrUserDisabled):
		return fmt.Errorf("%w: ask an admin to enable it", err)
	case errors.Is(err, store.ErrDeviceBlocked):
		return fmt.Errorf("%w: ask an admin why, and to unblock it", err)
	}
	return err
}

// Logout ends the session whose access token this is, presented by its
// device.
func (s *Service) Logout(ctx context.Context, access, device string) error {
	sess, err := s.Authenticate(ctx, access, device)
	if err != nil && !errors.Is(err, store.ErrSessionExpired) {
		return err
	}
	if errors.Is(err, store.ErrSessionExpired) { // an expired access token may still log out
		h, _ := tokenHash(access, accessPrefix)
		if sess, err = s.store.SessionByAccess(ctx, h); err != nil {
			return fmt.Errorf("logout: %w", err)
		}
	}
	return s.revoke(ctx, sess.ID, ReasonLogout, "user:"+sess.User)
}

// RevokeSession ends session id (an admin or helpdesk action).
func (s *Service) RevokeSession(ctx context.Context, by Principal, id string) error {
	if err := by.Can(Permission{AreaSessions, Write}); err != nil {
		return err
	}
	return s.revoke(ctx, id, ReasonAdmin, by.String())
}

func (s *Service) revoke(ctx context.Context, id, reason, by string) error {
	revoked, err := s.store.RevokeSession(ctx, id, s.clock.Now(), reason)
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	s.emitRevoked(revoked, by)
	return nil
}

// RevokeUserSessions ends all of user's sessions and returns how many were
// live.
func (s *Service) RevokeUserSessions(ctx context.Context, by Principal, user string) (int, error) {
	if err := by.Can(Permission{AreaSessions, Write}); err != nil {
		return 0, err
	}
	revoked, err := s.store.RevokeUserSessions(ctx, user, s.clock.Now(), ReasonAdmin)
	if err != nil {
		return 0, fmt.Errorf("revoke sessions of %q: %w", user, err)
	}
	s.emitRevoked(revoked, by.String())
	return len(revoked), nil
}

// Sessions lists user's sessions, live or not.
func (s *Service) Sessions(ctx context.Context, user string) ([]Session, error) {
	return s.store.ListSessions(ctx, user)
}

// AllSessions lists every user's sessions, live or not.
func (s *Service) AllSessions(ctx context.Context) ([]Session, error) {
	return s.store.ListAllSessions(ctx)
}

// DisableUser disables user and ends its sessions (UserDisabled, then
// SessionRevoked for each).
func (s *Service) DisableUser(ctx context.Context, by Principal, user string) error {
	if err := by.Can(Permission{AreaUsers, Write}); err != nil {
		return err
	}
	revoked, err := s.store.DisableUser(ctx, user, s.clock.Now())
	if err != nil {
		return fmt.Errorf("disable %q: %w", user, err)
	}
	s.emit(Event{Kind: UserDisabled, User: user, By: by.String()})
	s.emitRevoked(revoked, by.String())
	return nil
}

// EnableUser lets a disabled user sign in again.
func (s *Service) EnableUser(ctx context.Context, by Principal, user string) error {
	if err := by.Can(Permission{AreaUsers, Write}); err != nil {
		return err
	}
	if err := s.store.EnableUser(ctx, user); err != nil {
		return fmt.Errorf("enable %q: %w", user, err)
	}
	s.emit(Event{Kind: UserEnabled, User: user, By: by.String()})
	return nil
}

// Freshness is what a policy asks of a session: a second factor, and how
// old the sign-in and the second factor may be (zero: no limit).
type Freshness struct {
	RequireMFA bool
	MFAMaxAge  time.Duration
	SessionMax time.Duration
}

// Check says, at now, why sess is not fresh enough, with the fix for the
// user, or nil.
func (f Freshness) Check(sess Session, now time.Time) error {
	switch {
	case f.SessionMax > 0 && now.Sub(sess.AuthAt) > f.SessionMax:
		return fmt.Errorf("%w: signed in %v ago, this app allows %v: %s",
			ErrSessionTooOld, now.Sub(sess.AuthAt).Round(time.Minute), f.SessionMax, signInAgain)
	case (f.RequireMFA || f.MFAMaxAge > 0) && sess.MFAAt.IsZero():
		return fmt.Errorf("%w: this app needs a second factor: %s with your authenticator", ErrMFARequired, signInAgain)
	case f.MFAMaxAge > 0 && now.Sub(sess.MFAAt) > f.MFAMaxAge:
		return fmt.Errorf("%w: second factor used %v ago, this app allows %v: %s",
			ErrMFATooOld, now.Sub(sess.MFAAt).Round(time.Minute), f.MFAMaxAge, signInAgain)
	}
	return nil
}
