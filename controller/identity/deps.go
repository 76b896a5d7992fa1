package identity

import (
	"context"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// Clock is where identity reads the time: token lifetimes, MFA and session
// ages, throttling windows and TOTP steps all come from it.
type Clock interface {
	// Now is the current wall-clock time.
	Now() time.Time
}

// SystemClock is the real Clock.
type SystemClock struct{}

// Now implements Clock.
func (SystemClock) Now() time.Time { return time.Now() }

var _ Clock = SystemClock{}

// Store is the durable state identity needs: its own (IdentityStore) and
// the users it signs in.
type Store interface {
	store.IdentityStore
	store.UpstreamStore
	store.PasskeyStore
	// GetUser returns the user. store.ErrNotFound if absent.
	GetUser(ctx context.Context, name string) (api.User, error)
}

var _ Store = (*store.SQLite)(nil)
