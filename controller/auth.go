package controller

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// AdminAuth is the admin token: made at first start, checked on every
// admin request, rotated on demand. Only its hash is stored.
type AdminAuth struct {
	store  store.Store
	writes *sync.Mutex // the controller's adminMu: one admin write at a time
	commit func(context.Context, Change) error

	// hash is the SHA-256 of the admin token; rotation swaps it.
	hash      atomic.Pointer[[sha256.Size]byte]
	bootstrap string // set once by load
}

// load makes the admin token on the first start (BootstrapToken hands it
// to whoever shows it once), or loads its hash.
func (a *AdminAuth) load(ctx context.Context) error {
	hash, err := a.store.AdminTokenHash(ctx)
	if errors.Is(err, store.ErrNotFound) {
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

// BootstrapToken is the admin token made at first start; empty afterwards.
// It exists only in memory and is shown once.
func (a *AdminAuth) BootstrapToken() string { return a.bootstrap }

// Authenticate returns the actor token proves, or ErrUnauthenticated.
func (a *AdminAuth) Authenticate(token string) (Actor, error) {
	h := sha256.Sum256([]byte(token))
	want := a.hash.Load()
	if want == nil || subtle.ConstantTimeCompare(h[:], want[:]) != 1 {
		return Actor{}, ErrUnauthenticated
	}
	return AdminTokenActor, nil
}

// Rotate replaces the admin token: the old one stops working at once.
func (a *AdminAuth) Rotate(ctx context.Context, who Actor) (api.AdminToken, Change, error) {
	if err := who.mayAdminister(); err != nil {
		return api.AdminToken{}, Change{}, err
	}
	a.writes.Lock()
	defer a.writes.Unlock()
	tok, err := a.newToken(ctx)
	if err != nil {
		return api.AdminToken{}, Change{}, fmt.Errorf("rotate admin token: %w", err)
	}
	ch := Change{Kind: Rotated, Object: ObjectAdminToken, Name: "admin", By: who}
	return api.AdminToken{Token: tok}, ch, a.commit(ctx, ch)
}

// newToken makes a fresh admin token, stores its hash and makes it the
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
