package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
)

// MaxAPITokenTTL is the longest an admin API token may live: automation
// renews its token at least yearly.
const MaxAPITokenTTL = 366 * 24 * time.Hour

// Admins are the identity room's admin operations: users' sign-in state
// (passwords, TOTP, disabling, backoff), roles, API tokens, sessions and
// settings. Each checks the actor's role (docs/identity.md "Roles"),
// calls identity, and returns the Change it made, named by its actor.
type Admins struct {
	identity *identity.Service
	// user returns the user named (store.ErrNotFound if none).
	user   func(context.Context, string) (api.User, error)
	writes *sync.Mutex // the controller's adminMu: one admin write at a time
	commit func(context.Context, Change) error
	now    func() time.Time // whether a listed session is live
}

// write runs f for who, if its role allows writing area, as one admin
// write, and commits the change it made.
func (a *Admins) write(ctx context.Context, who Actor, area identity.Area, ch Change, f func() error) (Change, error) {
	if err := who.mayWrite(area); err != nil {
		return Change{}, err
	}
	a.writes.Lock()
	defer a.writes.Unlock()
	if err := f(); err != nil {
		return Change{}, identityError(err)
	}
	ch.By = who
	return ch, a.commit(ctx, ch)
}

// account is the Change of one action on user's account.
func account(kind ChangeKind, user, what string) Change {
	return Change{Kind: kind, Object: ObjectAccount, Name: user + "/" + what}
}

// List returns the users holding a role.
func (a *Admins) List(ctx context.Context, who Actor) ([]api.AdminAccount, error) {
	if err := who.mayRead(identity.AreaAdmins); err != nil {
		return nil, err
	}
	accts, err := a.identity.Admins(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]api.AdminAccount, len(accts))
	for i, ac := range accts {
		out[i] = api.AdminAccount{User: ac.User, Role: ac.Role, Disabled: !ac.DisabledAt.IsZero()}
	}
	return out, nil
}

// SetPassword sets user's password; every session of user ends.
func (a *Admins) SetPassword(ctx context.Context, who Actor, user, password string) (Change, error) {
	return a.write(ctx, who, identity.AreaUsers, account(Updated, user, "password"), func() error {
		return a.identity.ResetPassword(ctx, who.Principal(), user, password)
	})
}

// Disable refuses user's sign-ins and ends its sessions.
func (a *Admins) Disable(ctx context.Context, who Actor, user string) (Change, error) {
	return a.write(ctx, who, identity.AreaUsers, account(Updated, user, "disabled"), func() error {
		return a.identity.DisableUser(ctx, who.Principal(), user)
	})
}

// Enable lets a disabled user sign in again.
func (a *Admins) Enable(ctx context.Context, who Actor, user string) (Change, error) {
	return a.write(ctx, who, identity.AreaUsers, account(Updated, user, "enabled"), func() error {
		return a.identity.EnableUser(ctx, who.Principal(), user)
	})
}

// Unlock clears user's sign-in backoff (helpdesk and up).
func (a *Admins) Unlock(ctx context.Context, who Actor, user string) (Change, error) {
	return a.write(ctx, who, identity.AreaSessions, account(Updated, user, "unlocked"), func() error {
		if _, err := a.user(ctx, user); err != nil {
			return err
		}
		return a.identity.Unlock(who.Principal(), user)
	})
}

// SetRole gives user role ("" takes it away); owners only, and the last
// owner cannot step down (ErrConflict).
func (a *Admins) SetRole(ctx context.Context, who Actor, user, role string) (Change, error) {
	if role != "" {
		if _, err := identity.ParseRole(role); err != nil {
			return Change{}, Invalid("%v", err)
		}
	}
	return a.write(ctx, who, identity.AreaAdmins, account(Updated, user, "role"), func() error {
		return a.identity.SetRole(ctx, who.Principal(), user, identity.Role(role))
	})
}

// BeginTOTP starts a TOTP enrolment for user and returns its seed (shown
// once); it counts once ConfirmTOTP gets a code made with it.
func (a *Admins) BeginTOTP(ctx context.Context, who Actor, user string) (api.TOTPEnrolment, Change, error) {
	var e identity.TOTPEnrolment
	ch, err := a.write(ctx, who, identity.AreaUsers, account(Updated, user, "totp begun"), func() error {
		var err error
		e, err = a.identity.BeginTOTP(ctx, user)
		return err
	})
	return api.TOTPEnrolment{Secret: e.Secret, URL: e.URL}, ch, err
}

// ConfirmTOTP makes user's pending TOTP seed count, given a code from it.
func (a *Admins) ConfirmTOTP(ctx context.Context, who Actor, user, code string) (Change, error) {
	return a.write(ctx, who, identity.AreaUsers, account(Updated, user, "totp"), func() error {
		return a.identity.ConfirmTOTP(ctx, user, code)
	})
}

// RemoveTOTP removes user's TOTP.
func (a *Admins) RemoveTOTP(ctx context.Context, who Actor, user string) (Change, error) {
	return a.write(ctx, who, identity.AreaUsers, account(Deleted, user, "totp"), func() error {
		return a.identity.RemoveTOTP(ctx, user)
	})
}

// Sessions lists user's sessions, live or not.
func (a *Admins) Sessions(ctx context.Context, who Actor, user string) ([]api.Session, error) {
	if err := who.mayRead(identity.AreaSessions); err != nil {
		return nil, err
	}
	ss, err := a.identity.Sessions(ctx, user)
	return apiSessions(ss, a.now()), err
}

// AllSessions lists every user's sessions, live or not.
func (a *Admins) AllSessions(ctx context.Context, who Actor) ([]api.Session, error) {
	if err := who.mayRead(identity.AreaSessions); err != nil {
		return nil, err
	}
	ss, err := a.identity.AllSessions(ctx)
	return apiSessions(ss, a.now()), err
}

// apiSessions are ss as the API shows them, live or not at now.
func apiSessions(ss []identity.Session, now time.Time) []api.Session {
	out := make([]api.Session, len(ss))
	for i, s := range ss {
		out[i] = api.Session{ID: s.ID, User: s.User, Device: s.Device, Methods: s.Methods, AuthAt: s.AuthAt, MFAAt: s.MFAAt,
			ExpiresAt: s.ExpiresAt, LastRefresh: s.RefreshedAt, RevokedAt: s.RevokedAt, RevokeReason: s.RevokeReason,
			Live: s.RevokedAt.IsZero() && now.Before(s.ExpiresAt) && now.Before(s.RefreshExpiresAt)}
	}
	return out
}

// RevokeSession ends session id.
func (a *Admins) RevokeSession(ctx context.Context, who Actor, id string) (Change, error) {
	return a.write(ctx, who, identity.AreaSessions, Change{Kind: Revoked, Object: ObjectSession, Name: id}, func() error {
		return a.identity.RevokeSession(ctx, who.Principal(), id)
	})
}

// RevokeUserSessions ends every session of user and says how many were live.
func (a *Admins) RevokeUserSessions(ctx context.Context, who Actor, user string) (int, Change, error) {
	var n int
	ch, err := a.write(ctx, who, identity.AreaSessions, Change{Kind: Revoked, Object: ObjectSession, Name: "user:" + user}, func() error {
		if _, err := a.user(ctx, user); err != nil {
			return err
		}
		var err error
		n, err = a.identity.RevokeUserSessions(ctx, who.Principal(), user)
		return err
	})
	return n, ch, err
}

// CreateAPIToken issues an API token; its secret is in the answer only.
// Owners may give any role, admins at most admin (identity.CanIssue).
func (a *Admins) CreateAPIToken(ctx context.Context, who Actor, req api.APITokenRequest) (api.APIToken, Change, error) {
	role, err := identity.ParseRole(req.Role)
	if err != nil {
		return api.APIToken{}, Change{}, Invalid("%v", err)
	}
	if err := validTokenRequest(req.Name, time.Duration(req.TTL)); err != nil {
		return api.APIToken{}, Change{}, err
	}
	if err := who.mayRead(identity.AreaAdmins); err != nil {
		return api.APIToken{}, Change{}, err
	}
	a.writes.Lock()
	defer a.writes.Unlock()
	secret, t, err := a.identity.CreateAPIToken(ctx, who.Principal(), req.Name, role, time.Duration(req.TTL))
	if err != nil {
		return api.APIToken{}, Change{}, identityError(err)
	}
	ch := Change{Kind: Created, Object: ObjectAPIToken, Name: t.ID + " (" + t.Name + ")", By: who}
	return apiToken(t, secret), ch, a.commit(ctx, ch)
}

// ListAPITokens lists every API token, without secrets.
func (a *Admins) ListAPITokens(ctx context.Context, who Actor) ([]api.APIToken, error) {
	if err := who.mayRead(identity.AreaAdmins); err != nil {
		return nil, err
	}
	ts, err := a.identity.ListAPITokens(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]api.APIToken, len(ts))
	for i, t := range ts {
		out[i] = apiToken(t, "")
	}
	return out, nil
}

// RevokeAPIToken revokes API token id (owners and admins).
func (a *Admins) RevokeAPIToken(ctx context.Context, who Actor, id string) (Change, error) {
	if err := who.mayRead(identity.AreaAdmins); err != nil {
		return Change{}, err
	}
	a.writes.Lock()
	defer a.writes.Unlock()
	if err := a.identity.RevokeAPIToken(ctx, who.Principal(), id); err != nil {
		return Change{}, identityError(err)
	}
	ch := Change{Kind: Revoked, Object: ObjectAPIToken, Name: id, By: who}
	return ch, a.commit(ctx, ch)
}

// Settings returns the controller's settings.
func (a *Admins) Settings(ctx context.Context, who Actor) (api.Settings, error) {
	if err := who.mayRead(identity.AreaSettings); err != nil {
		return api.Settings{}, err
	}
	need, err := a.identity.NewDevicesNeedApproval(ctx)
	return api.Settings{DeviceApproval: need}, err
}

// SetSettings replaces the controller's settings.
func (a *Admins) SetSettings(ctx context.Context, who Actor, s api.Settings) (Change, error) {
	ch := Change{Kind: Updated, Object: ObjectSetting, Name: fmt.Sprintf("device_approval=%v", s.DeviceApproval)}
	return a.write(ctx, who, identity.AreaSettings, ch, func() error {
		return a.identity.SetNewDevicesNeedApproval(ctx, who.Principal(), s.DeviceApproval)
	})
}

// apiToken is t as the API shows it, with secret when it was just made.
func apiToken(t identity.APIToken, secret string) api.APIToken {
	return api.APIToken{ID: t.ID, Name: t.Name, Role: t.Role, CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt.UTC(),
		ExpiresAt: t.ExpiresAt.UTC(), RevokedAt: t.RevokedAt, Token: secret}
}

// validTokenRequest checks an API token's name and lifetime.
func validTokenRequest(name string, ttl time.Duration) error {
	if err := validName("API token", name); err != nil {
		return err
	}
	if ttl <= 0 || ttl > MaxAPITokenTTL {
		return Invalid("API token ttl %s must be more than 0 and at most %s (366 days): give --ttl, e.g. 30d", ttl, MaxAPITokenTTL)
	}
	return nil
}

// identityError tags identity's errors with the core's kinds, so the
// transport maps them to their statuses.
func identityError(err error) error {
	switch {
	case errors.Is(err, identity.ErrWeakPassword), errors.Is(err, identity.ErrBadCredentials),
		errors.Is(err, identity.ErrNoEnrolment):
		return kindError{ErrInvalid, err}
	case errors.Is(err, identity.ErrBootstrapDone), errors.Is(err, identity.ErrLastOwner):
		return kindError{ErrConflict, err}
	}
	return err
}
