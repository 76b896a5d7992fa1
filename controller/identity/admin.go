package identity

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// APIToken is an admin API token's record (never its secret).
type APIToken = store.APIToken

// Bootstrap makes u the first owner with password, once: ErrBootstrapDone
// after that or once any owner exists. The controller's bootstrap token
// is good for this call only.
func (s *Service) Bootstrap(ctx context.Context, u api.User, password string) error {
	h, err := s.newPasswordHash(ctx, password)
	if err != nil {
		return fmt.Errorf("bootstrap owner %q: %w", u.Name, err)
	}
	if err := s.store.Bootstrap(ctx, u, h); err != nil {
		return fmt.Errorf("bootstrap owner %q: %w", u.Name, err)
	}
	s.emit(Event{Kind: RoleChanged, User: u.Name, By: Principal{Kind: PrincipalBootstrap, Name: "bootstrap"}.String(), Detail: string(Owner)})
	return nil
}

// BootstrapDone says whether the first owner exists (Bootstrap ran, or
// some owner exists): the bootstrap token is then good for nothing.
func (s *Service) BootstrapDone(ctx context.Context) (bool, error) {
	return s.store.BootstrapDone(ctx)
}

// Admins lists the users who hold a role.
func (s *Service) Admins(ctx context.Context) ([]Account, error) {
	return s.store.ListAdmins(ctx)
}

// Account is a user's identity state (the store's record; it holds the
// password hash and TOTP seed: never hand it out as is).
type Account = store.Account

// SetRole gives user role r; only an owner may. A zero r takes the
// user's role away. ErrLastOwner if that would leave no owner.
func (s *Service) SetRole(ctx context.Context, by Principal, user string, r Role) error {
	if r != "" {
		if _, err := ParseRole(string(r)); err != nil {
			return err
		}
	}
	if by.Role != Owner {
		return fmt.Errorf("%w: only an owner may change roles; %s is %q", ErrForbidden, by, by.Role)
	}
	if err := s.store.SetRole(ctx, user, string(r)); err != nil {
		return fmt.Errorf("set role of %q: %w", user, err)
	}
	s.emit(Event{Kind: RoleChanged, User: user, By: by.String(), Detail: string(r)})
	return nil
}

// CreateAPIToken issues an API token named name with role r that expires
// after ttl, and returns its secret (shown once) and record. The issuer
// may give at most its own role (CanIssue).
func (s *Service) CreateAPIToken(ctx context.Context, by Principal, name string, r Role, ttl time.Duration) (string, APIToken, error) {
	if _, err := ParseRole(string(r)); err != nil {
		return "", APIToken{}, err
	}
	if !CanIssue(by.Role, r) {
		return "", APIToken{}, fmt.Errorf("%w: %s (role %q) may not issue a token with role %q", ErrForbidden, by, by.Role, r)
	}
	if name == "" || ttl <= 0 {
		return "", APIToken{}, errors.New("API token: give it a name and a lifetime")
	}
	secret, hash, err := newToken(apiPrefix)
	if err != nil {
		return "", APIToken{}, err
	}
	now := s.clock.Now()
	t := APIToken{ID: "tok_" + rand.Text(), Name: name, Role: string(r), CreatedBy: by.String(), CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := s.store.CreateAPIToken(ctx, t, hash); err != nil {
		return "", APIToken{}, err
	}
	s.emit(Event{Kind: APITokenCreated, By: by.String(), Detail: name, Reason: string(r)})
	return secret, t, nil
}

// RevokeAPIToken revokes the API token id.
func (s *Service) RevokeAPIToken(ctx context.Context, by Principal, id string) error {
	if by.Role != Owner && by.Role != Admin { // those who may issue tokens may revoke them
		return fmt.Errorf("%w: %s (role %q) may not revoke API tokens; ask an owner or an admin", ErrForbidden, by, by.Role)
	}
	if err := s.store.RevokeAPIToken(ctx, id, s.clock.Now()); err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	s.emit(Event{Kind: APITokenRevoked, By: by.String(), Detail: id})
	return nil
}

// ListAPITokens lists all API tokens.
func (s *Service) ListAPITokens(ctx context.Context) ([]APIToken, error) {
	return s.store.ListAPITokens(ctx)
}

// AuthenticateAPIToken returns the principal of a live API token.
func (s *Service) AuthenticateAPIToken(ctx context.Context, secret string) (Principal, error) {
	h, err := tokenHash(secret, apiPrefix)
	if err != nil {
		return Principal{}, err
	}
	t, err := s.store.APITokenByHash(ctx, h)
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, fmt.Errorf("%w: ask an admin for a new API token", ErrTokenInvalid)
	}
	if err != nil {
		return Principal{}, fmt.Errorf("check API token: %w", err)
	}
	if !t.RevokedAt.IsZero() || !s.clock.Now().Before(t.ExpiresAt) {
		return Principal{}, fmt.Errorf("API token %q: %w: ask an admin for a new one", t.Name, ErrTokenExpired)
	}
	r, err := ParseRole(t.Role)
	if err != nil {
		return Principal{}, fmt.Errorf("API token %q: %w", t.Name, err)
	}
	return Principal{Kind: PrincipalToken, Name: t.Name, Role: r}, nil
}

// AdminPrincipal returns the admin principal of a signed-in session: its
// user must hold a role and have used a second factor within
// AdminMFAMaxAge.
func (s *Service) AdminPrincipal(ctx context.Context, sess Session) (Principal, error) {
	a, err := s.store.Account(ctx, sess.User)
	if err != nil {
		return Principal{}, fmt.Errorf("admin %q: %w", sess.User, err)
	}
	if a.Role == "" {
		return Principal{}, fmt.Errorf("%w: %q holds no admin role; ask an owner", ErrForbidden, sess.User)
	}
	if err := (Freshness{MFAMaxAge: s.cfg.AdminMFAMaxAge}).Check(sess, s.clock.Now()); err != nil {
		return Principal{}, fmt.Errorf("admin %q: %w", sess.User, err)
	}
	r, err := ParseRole(a.Role)
	if err != nil {
		return Principal{}, fmt.Errorf("admin %q: %w", sess.User, err)
	}
	return Principal{Kind: PrincipalUser, Name: sess.User, Role: r}, nil
}
