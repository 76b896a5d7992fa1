package controller

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"log/slog"
	"sync"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// MaxEnrollmentTokenTTL is the longest an enrollment token may live: a
// token is a bearer secret for a device slot, so it should not outlive the
// rollout it was made for.
const MaxEnrollmentTokenTTL = 7 * 24 * time.Hour

// Enrollment is device enrollment: the single-use tokens admins make, and
// the devices that spend them.
type Enrollment struct {
	store  store.Store
	writes *sync.Mutex // the controller's adminMu: one admin write at a time
	commit func(context.Context, Change) error
	log    *slog.Logger
	now    func() time.Time
}

// CreateToken makes a single-use enrollment token for req.User; the
// answer is the only place its secret ever appears.
func (e *Enrollment) CreateToken(ctx context.Context, who Actor, req api.EnrollmentTokenRequest) (api.EnrollmentToken, Change, error) {
	if err := who.mayWrite(identity.AreaEnrollment); err != nil {
		return api.EnrollmentToken{}, Change{}, err
	}
	e.writes.Lock()
	defer e.writes.Unlock()
	if _, err := e.store.GetUser(ctx, req.User); err != nil {
		return api.EnrollmentToken{}, Change{}, Invalid("enrollment token for user %q: %v", req.User, err)
	}
	ttl := time.Duration(req.TTL)
	if ttl == 0 {
		ttl = time.Hour
	}
	if ttl < time.Second || ttl > MaxEnrollmentTokenTTL {
		return api.EnrollmentToken{}, Change{}, Invalid("enrollment token ttl %s must be between 1s and %s (7 days); make a new token when it runs out", ttl, MaxEnrollmentTokenTTL)
	}
	secret, err := newSecret("ghe_")
	if err != nil {
		return api.EnrollmentToken{}, Change{}, err
	}
	t := api.EnrollmentToken{ID: newID("et_"), User: req.User, ExpiresAt: e.now().Add(ttl).UTC()}
	if err := e.store.CreateEnrollmentToken(ctx, t, hashSecret(secret)); err != nil {
		return api.EnrollmentToken{}, Change{}, err
	}
	e.log.Info("enrollment token created", "id", t.ID, "user", t.User, "expires_at", t.ExpiresAt)
	t.Token = secret
	ch := Change{Kind: Created, Object: ObjectEnrollmentToken, Name: t.ID, By: who}
	return t, ch, e.commit(ctx, ch)
}

// ListTokens returns every enrollment token, without its secret.
func (e *Enrollment) ListTokens(ctx context.Context, who Actor) ([]api.EnrollmentToken, error) {
	if err := who.mayRead(identity.AreaEnrollment); err != nil {
		return nil, err
	}
	return e.store.ListEnrollmentTokens(ctx)
}

// RevokeToken deletes a token so it can no longer enroll a device;
// devices it already enrolled stay. ErrNotFound if there is none.
func (e *Enrollment) RevokeToken(ctx context.Context, who Actor, id string) (Change, error) {
	if err := who.mayWrite(identity.AreaEnrollment); err != nil {
		return Change{}, err
	}
	e.writes.Lock()
	defer e.writes.Unlock()
	if err := e.store.DeleteEnrollmentToken(ctx, id); err != nil {
		return Change{}, err
	}
	e.log.Info("enrollment token revoked", "id", id)
	ch := Change{Kind: Deleted, Object: ObjectEnrollmentToken, Name: id, By: who}
	return ch, e.commit(ctx, ch)
}

// Enroll spends req's single-use token on a device bound to the token's
// user. It takes no Actor: the token is the credential. A refused token
// is ErrTokenRefused; bad input (key, hostname) is refused before the
// token is looked at, so it does not use the token up.
func (e *Enrollment) Enroll(ctx context.Context, req api.EnrollRequest) (api.Device, Change, error) {
	pub, err := base64.StdEncoding.DecodeString(req.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return api.Device{}, Change{}, Invalid("device public key must be a base64 Ed25519 key")
	}
	if err := validHostname(req.Hostname); err != nil {
		return api.Device{}, Change{}, err
	}
	now := e.now()
	dev, err := e.store.EnrollDevice(ctx, hashSecret(req.Token), now, api.Device{
		ID: newID("dev_"), Hostname: req.Hostname, PublicKey: req.PublicKey, EnrolledAt: now.UTC()})
	if err != nil {
		return api.Device{}, Change{}, tokenRefused(err)
	}
	e.log.Info("device enrolled", "device", dev.ID, "user", dev.User, "hostname", dev.Hostname)
	ch := Change{Kind: Enrolled, Object: ObjectDevice, Name: dev.ID, By: Actor{Kind: ActorEnrollmentToken, Name: dev.ID}}
	return dev, ch, e.commit(ctx, ch)
}
