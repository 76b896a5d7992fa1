package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// ExceptionStore holds exceptions: posture checks waived for one user or
// one device until an expiry. *SQLite implements it; it is apart from
// Store so that other Store implementations need not.
//
// An exception goes with the user or device it names: deleting either
// deletes its exceptions.
type ExceptionStore interface {
	// CreateException stores e (an empty e.ID gets a random one, a zero
	// e.CreatedAt becomes now) and returns it as stored. ErrExists if the
	// ID is taken; ErrNotFound if the user or device it names is absent.
	// Exactly one of e.User and e.Device must be set.
	CreateException(ctx context.Context, e api.Exception, now time.Time) (api.Exception, error)
	// GetException returns the exception. ErrNotFound if absent.
	GetException(ctx context.Context, id string) (api.Exception, error)
	// DeleteException deletes the exception. ErrNotFound if absent.
	DeleteException(ctx context.Context, id string) error
	// ListExceptions returns every exception, expired ones included,
	// sorted by ID, Checks never nil.
	ListExceptions(ctx context.Context) ([]api.Exception, error)
}

var _ ExceptionStore = (*SQLite)(nil)

var exceptionsTable = newTable("exception", "exceptions",
	[]string{"id", "user_name", "device_id", "checks", "owner", "reason", "expires_at", "created_by", "created_at"},
	func(e *api.Exception) []any {
		return []any{&e.ID, nullCol{&e.User}, nullCol{&e.Device}, listCol{&e.Checks}, &e.Owner, &e.Reason,
			timeCol{&e.ExpiresAt}, &e.CreatedBy, timeCol{&e.CreatedAt}}
	})

// nullCol stores a string whose "" is NULL (a foreign key that is not set).
type nullCol struct{ s *string }

func (c nullCol) Value() (driver.Value, error) {
	if *c.s == "" {
		return nil, nil
	}
	return *c.s, nil
}

func (c nullCol) Scan(src any) error {
	if src == nil {
		*c.s = ""
		return nil
	}
	s, err := text(src)
	*c.s = s
	return err
}

// CreateException implements ExceptionStore.
func (s *SQLite) CreateException(ctx context.Context, e api.Exception, now time.Time) (api.Exception, error) {
	if (e.User == "") == (e.Device == "") {
		return api.Exception{}, fmt.Errorf("exception: name exactly one of a user and a device")
	}
	if e.ID == "" {
		e.ID = "exc-" + rand.Text()[:16]
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = now
	}
	// The foreign keys would refuse a missing user or device; say which.
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		if e.User != "" {
			if _, err := users.get(ctx, tx, e.User); err != nil {
				return err
			}
		} else if _, err := deviceRecords.get(ctx, tx, e.Device); err != nil {
			return err
		}
		return exceptionsTable.create(ctx, tx, e)
	})
	if err != nil {
		return api.Exception{}, err
	}
	return exceptionsTable.get(ctx, s.db, e.ID)
}

// GetException implements ExceptionStore.
func (s *SQLite) GetException(ctx context.Context, id string) (api.Exception, error) {
	return exceptionsTable.get(ctx, s.db, id)
}

// DeleteException implements ExceptionStore.
func (s *SQLite) DeleteException(ctx context.Context, id string) error {
	return exceptionsTable.delete(ctx, s.db, id)
}

// ListExceptions implements ExceptionStore.
func (s *SQLite) ListExceptions(ctx context.Context) ([]api.Exception, error) {
	return exceptionsTable.list(ctx, s.db)
}
