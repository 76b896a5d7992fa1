package controller

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// AdminAuth finds who an admin request comes from: the bootstrap token
// (made at first start, good only for creating the first owner; only its
// hash is stored) or an admin API token (identity). It also runs the
// bootstrap itself.
type AdminAuth struct {
	store    store.Store
	identity *identity.Service
	writes   *sync.Mutex // the controller's adminMu: one admin write at a time
	commit   func(context.Context, Change) error

	// hash is the SHA-256 of the bootstrap token; rotation swaps it.
	hash      atomic.Pointer[[sha256.Size]byte]
	bootstrap string // set once by load
}

// load makes the bootstrap token on the first start (BootstrapToken hands
// it to whoever shows it once), or loads its hash. Once the first owner
// exists, no token is made any more.
func (a *AdminAuth) load(ctx context.Context) error {
	hash, err := a.store.AdminTokenHash(ctx)
	if errors.Is(err, store.ErrNotFound) {
		done, err := a.identity.BootstrapDone(ctx)
		if err != nil || done {
			return err
		}
		tok, err := a.newToken(ctx)
		if err != nil {
			return err
		}
		a.bootstrap = tok
		return nil
	} else if err != nil {
		return err
	}
	b, err := hex.DecodeString(hash)
	if err != nil || len(b) != sha256.Size {
		return fmt.Errorf("stored admin token hash is corrupt (%v): make a new data dir or restore a backup", err)
	}
	a.hash.Store((*[sha256.Size]byte)(b))
	return nil
}

// BootstrapToken is the bootstrap token made at first start; empty
// afterwards. It exists only in memory and is shown once.
func (a *AdminAuth) BootstrapToken() string { return a.bootstrap }

// apiTokenPrefix and sessionTokenPrefix are the kinds of bearer token
// identity issues (docs/identity.md "Sessions and tokens").
const (
	apiTokenPrefix     = "ghk_"
	sessionTokenPrefix = "gha_"
)

// Authenticate returns the actor token proves, or an ErrUnauthenticated
// error saying what to use instead.
func (a *AdminAuth) Authenticate(ctx context.Context, token string) (Actor, error) {
	h := sha256.Sum256([]byte(token))
	if want := a.hash.Load(); want != nil && subtle.ConstantTimeCompare(h[:], want[:]) == 1 {
		done, err := a.identity.BootstrapDone(ctx)
		if err != nil {
			return Actor{}, fmt.Errorf("check the bootstrap token: %w", err)
		}
		if done {
			return Actor{}, fmt.Errorf("%w: the bootstrap token is spent: the first owner exists; "+
				"use an API token an owner made (gatehouse admin api-tokens create)", ErrUnauthenticated)
		}
		return BootstrapActor, nil
	}
	switch {
	case strings.HasPrefix(token, apiTokenPrefix):
		p, err := a.identity.AuthenticateAPIToken(ctx, token)
		if errors.Is(err, identity.ErrTokenInvalid) || errors.Is(err, identity.ErrTokenExpired) {
			return Actor{}, kindError{ErrUnauthenticated, err}
		}
		if err != nil {
			return Actor{}, err
		}
		return ActorOf(p), nil
	case strings.HasPrefix(token, sessionTokenPrefix):
		// A session's access token is bound to the key that signed in;
		// taken as a bare bearer token here, a copy would work from
		// anywhere. The transport takes it only with that key's proof.
		return Actor{}, fmt.Errorf("%w: wrong admin token: not the bootstrap token, and a sign-in session's token "+
			"needs the proof of the admin CLI's key it is bound to: sign in with gatehouse admin login, or use an API token", ErrUnauthenticated)
	}
	return Actor{}, fmt.Errorf("%w: missing or wrong admin token: pass an API token as `Authorization: Bearer ghk_…` (gatehouse admin --token)", ErrUnauthenticated)
}

// Rotate replaces the bootstrap token: the old one stops working at once.
// Only the bootstrap token may, before the first owner exists (a leaked
// one can be replaced); afterwards it is spent anyway.
func (a *AdminAuth) Rotate(ctx context.Context, who Actor) (api.AdminToken, Change, error) {
	if who.Kind != ActorBootstrap {
		return api.AdminToken{}, Change{}, fmt.Errorf("%w: only the bootstrap token may replace itself; %s has no use for it", ErrForbidden, who)
	}
	a.writes.Lock()
	defer a.writes.Unlock()
	tok, err := a.newToken(ctx)
	if err != nil {
		return api.AdminToken{}, Change{}, fmt.Errorf("rotate admin token: %w", err)
	}
	ch := Change{Kind: Rotated, Object: ObjectAdminToken, Name: "bootstrap", By: who}
	return api.AdminToken{Token: tok}, ch, a.commit(ctx, ch)
}

// Bootstrap creates the first owner with a password and an owner API token
// for it (shown once), once: only the bootstrap token may, and it is spent
// from then on (ErrConflict if an owner exists already).
func (a *AdminAuth) Bootstrap(ctx context.Context, who Actor, req api.BootstrapRequest) (api.BootstrapResponse, Change, error) {
	if who.Kind != ActorBootstrap {
		return api.BootstrapResponse{}, Change{}, fmt.Errorf("%w: only the bootstrap token may create the first owner; %s is an admin already", ErrForbidden, who)
	}
	u := api.User{Name: req.User, Email: req.Email, Groups: []string{}}
	if err := validateUser(ctx, &u); err != nil {
		return api.BootstrapResponse{}, Change{}, err
	}
	name := req.TokenName
	if name == "" {
		name = "bootstrap"
	}
	ttl := time.Duration(req.TokenTTL)
	if ttl == 0 {
		ttl = api.DefaultBootstrapTokenTTL
	}
	if err := validTokenRequest(name, ttl); err != nil {
		return api.BootstrapResponse{}, Change{}, err
	}
	a.writes.Lock()
	defer a.writes.Unlock()
	if err := a.identity.Bootstrap(ctx, u, req.Password); err != nil {
		return api.BootstrapResponse{}, Change{}, identityError(err)
	}
	ch := Change{Kind: Created, Object: ObjectUser, Name: u.Name, By: who}
	if err := a.commit(ctx, ch); err != nil {
		return api.BootstrapResponse{}, ch, err
	}
	// The owner exists: the bootstrap token is spent. The first API token
	// is issued on the new owner's behalf.
	owner := identity.Principal{Kind: identity.PrincipalBootstrap, Name: "bootstrap", Role: identity.Owner}
	secret, t, err := a.identity.CreateAPIToken(ctx, owner, name, identity.Owner, ttl)
	if err != nil {
		return api.BootstrapResponse{}, ch, fmt.Errorf("owner %q created, but its API token was not: %w "+
			"(the bootstrap token is spent; see docs/identity.md \"Admins\" for recovery)", u.Name, err)
	}
	return api.BootstrapResponse{User: u.Name, Token: apiToken(t, secret)}, ch, nil
}

// newToken makes a fresh bootstrap token, stores its hash and makes it the
// only one accepted from now on.
func (a *AdminAuth) newToken(ctx context.Context) (string, error) {
	tok, err := newSecret("gha_")
	if err != nil {
		return "", err
	}
	if err := a.store.SetAdminTokenHash(ctx, hashSecret(tok)); err != nil {
		return "", err
	}
	h := sha256.Sum256([]byte(tok))
	a.hash.Store(&h)
	return tok, nil
}
