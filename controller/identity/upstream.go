package identity

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/gatehouse-ztna/gatehouse/controller/identity/oidc"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// MethodOIDC marks a sign-in through an upstream OIDC IdP (the session's
// methods, as api.SessionInfo names them).
const MethodOIDC = "oidc"

// ReasonUpstreamRefused ends a session whose IdP refused its refresh (the
// user was disabled there, the token revoked, or the user no longer
// passes the provider's checks).
const ReasonUpstreamRefused = "upstream_refused"

// Why an upstream sign-in failed, in LoginFailed events.
const failNameTaken = "name_taken"

// ErrNameTaken: an upstream sign-in's user name belongs to a Gatehouse
// user that cannot be linked to the IdP (it has a password, or another
// link); also store.ErrExists.
var ErrNameTaken = errors.New("user name taken by an account not linked to this identity provider: ask an admin")

// ErrUpstreamRefused: the session's IdP refused to refresh it; the
// session is ended.
var ErrUpstreamRefused = errors.New("identity provider refused the session")

// upstreamMFA are the amr values (RFC 8176) that say the IdP checked a
// second factor.
var upstreamMFA = []string{"mfa", "otp", "hwk"}

// Directory is where upstream sign-ins make users and set their groups.
// The controller's core implements it so that a new user or a changed
// membership re-decides grants at once; *store.SQLite implements it
// without that. Its methods are store.UpstreamStore's.
type Directory interface {
	UpstreamSignIn(ctx context.Context, in store.UpstreamLogin) (store.UpstreamUser, error)
	SetUpstreamGroups(ctx context.Context, issuer, subject string, groups, managed []string, claims map[string]string) (store.UpstreamUser, error)
}

var _ Directory = (*store.SQLite)(nil)

// upstreamProof is what a Proof keeps of an upstream sign-in, for the
// session it starts.
type upstreamProof struct {
	issuer, subject, refreshToken string
}

// Upstreams are the configured IdPs, for the sign-in page (Status, Begin,
// Callback).
func (s *Service) Upstreams() []*oidc.Provider { return slices.Clone(s.cfg.Upstreams) }

// upstream returns the configured IdP with issuer, or nil.
func (s *Service) upstream(issuer string) *oidc.Provider {
	for _, p := range s.cfg.Upstreams {
		if p.Issuer() == issuer {
			return p
		}
	}
	return nil
}

func (s *Service) directory() Directory {
	if s.cfg.Directory != nil {
		return s.cfg.Directory
	}
	return s.store
}

// SignInUpstream turns what a configured IdP verified (oidc.Provider's
// Callback) into a Proof for StartSession. The user linked to the IdP's
// (issuer, subject) signs in; at the first sign-in the user is made (or
// an admin-made user of that name without a password is linked). Their
// groups follow the IdP's (the provider's managed groups). Methods are
// "oidc" and the IdP's amr; a second factor counts (MFA time = the IdP's
// auth_time) when the amr says mfa, otp or hwk and auth_time is given.
func (s *Service) SignInUpstream(ctx context.Context, v *oidc.Verified, source netip.Addr) (Proof, error) {
	if v == nil || v.Subject() == "" {
		return Proof{}, errors.New("upstream sign-in: nothing verified")
	}
	if s.upstream(v.Issuer()) == nil {
		return Proof{}, fmt.Errorf("upstream sign-in: %s is not a configured identity provider", v.Issuer())
	}
	now := s.clock.Now()
	u, err := s.directory().UpstreamSignIn(ctx, store.UpstreamLogin{Issuer: v.Issuer(), Subject: v.Subject(),
		User: v.UserName(), Email: v.Email(), Groups: v.Groups(), Managed: v.ManagedGroups(), Claims: v.Claims(), At: now})
	if errors.Is(err, store.ErrExists) {
		s.emit(Event{Kind: LoginFailed, User: v.UserName(), Source: source, Reason: failNameTaken, Detail: v.Issuer()})
		return Proof{}, fmt.Errorf("sign in through %s: %w: %w", v.Issuer(), ErrNameTaken, err)
	}
	if err != nil {
		return Proof{}, fmt.Errorf("sign in through %s: %w", v.Issuer(), err)
	}
	a, err := s.store.Account(ctx, u.User)
	if err != nil {
		return Proof{}, fmt.Errorf("sign in %q: %w", u.User, err)
	}
	if !a.DisabledAt.IsZero() {
		s.emit(Event{Kind: LoginFailed, User: u.User, Source: source, Reason: failDisabled, Detail: v.Issuer()})
		return Proof{}, fmt.Errorf("user %q: %w: ask an admin to enable it", u.User, ErrUserDisabled)
	}
	p := Proof{user: u.User, methods: []string{MethodOIDC}, authAt: now,
		via: &upstreamProof{issuer: v.Issuer(), subject: v.Subject(), refreshToken: v.RefreshToken()}}
	mfa := false
	for _, m := range v.AMR() {
		if m != "" && len(m) <= 16 && !slices.Contains(p.methods, m) && len(p.methods) < 8 {
			p.methods = append(p.methods, m)
		}
		mfa = mfa || slices.Contains(upstreamMFA, m)
	}
	if at := v.AuthTime(); mfa && !at.IsZero() {
		p.mfaAt = minTime(at, now) // an IdP clock ahead of ours does not make a factor fresher
	}
	if v.RefreshToken() == "" {
		s.log.Warn("identity provider issued no refresh token: groups follow it only at sign-in (ask for offline_access)",
			"issuer", v.Issuer(), "user", u.User)
	}
	s.emit(Event{Kind: LoginSucceeded, User: u.User, Source: source, Detail: fmt.Sprint(p.methods)})
	return p, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// createSession stores sess, with its upstream link when p came from an
// IdP.
func (s *Service) createSession(ctx context.Context, p Proof, sess Session, hashes store.TokenSet) error {
	if p.via == nil {
		return s.store.CreateSession(ctx, sess, hashes)
	}
	return s.store.CreateUpstreamSession(ctx, sess, hashes, p.via.issuer, p.via.subject, p.via.refreshToken)
}

// refreshUpstream re-checks, before a refresh rotates anything, the user
// of a session signed in through an IdP: the IdP's refresh token is
// redeemed and the groups it names now replace the managed ones, its
// claims the stored ones. An IdP
// refusal ends the session (ReasonUpstreamRefused); an IdP that cannot be
// reached fails the refresh and changes nothing (the device tries again;
// its access token runs out meanwhile). Anything else about the token
// (unknown, spent, another device, expired) is left to RotateRefresh.
func (s *Service) refreshUpstream(ctx context.Context, refreshHash, device string) error {
	us, err := s.store.UpstreamSessionByRefresh(ctx, refreshHash)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("refresh: %w", err)
	}
	now := s.clock.Now()
	if !us.RevokedAt.IsZero() || us.Device != device || !now.Before(us.Session.RefreshExpiresAt) || !now.Before(us.ExpiresAt) {
		return nil
	}
	if us.RefreshToken == "" {
		return nil // the IdP issued none: its groups follow it only at sign-in
	}
	var v *oidc.Verified
	if p := s.upstream(us.Issuer); p != nil {
		v, err = p.Refresh(ctx, us.RefreshToken, us.Subject)
	} else {
		err = fmt.Errorf("%w: %s is no longer a configured identity provider", oidc.ErrRefused, us.Issuer)
	}
	switch {
	case errors.Is(err, oidc.ErrRefused):
		s.log.Info("identity provider refused a session's refresh: session ended", "user", us.User, "session", us.ID, "err", err)
		if rerr := s.revoke(ctx, us.ID, ReasonUpstreamRefused, "upstream:"+us.Issuer); rerr != nil {
			return rerr
		}
		return fmt.Errorf("%w: %v: %s", ErrUpstreamRefused, err, signInAgain)
	case err != nil:
		return fmt.Errorf("refresh: %w", err)
	}
	if err := s.store.SetUpstreamRefreshToken(ctx, us.ID, v.RefreshToken()); err != nil {
		return fmt.Errorf("refresh: %w", err)
	}
	if _, err := s.directory().SetUpstreamGroups(ctx, us.Issuer, us.Subject, v.Groups(), v.ManagedGroups(), v.Claims()); err != nil {
		return fmt.Errorf("refresh: groups from %s: %w", us.Issuer, err)
	}
	return nil
}
