package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// tokenRow is an enrollment token as stored: with the hash of its secret,
// never the secret.
type tokenRow struct {
	api.EnrollmentToken
	hash string
}

// setting is one row of the key/value settings table.
type setting struct{ key, value string }

const adminTokenKey = "admin_token_hash"

var (
	tokens = newTable("enrollment token", "enrollment_tokens",
		[]string{"id", "user_name", "secret_hash", "expires_at", "used"},
		func(t *tokenRow) []any {
			return []any{&t.ID, &t.User, &t.hash, timeCol{&t.ExpiresAt}, &t.Used}
		})
	devices = newTable("device", "devices",
		[]string{"id", "user_name", "hostname", "public_key", "enrolled_at"},
		func(d *api.Device) []any {
			return []any{&d.ID, &d.User, &d.Hostname, &d.PublicKey, timeCol{&d.EnrolledAt}}
		})
	settings = newTable("setting", "settings", []string{"key", "value"},
		func(s *setting) []any { return []any{&s.key, &s.value} })
)

// CreateEnrollmentToken implements Store.
func (s *SQLite) CreateEnrollmentToken(ctx context.Context, t api.EnrollmentToken, secretHash string) error {
	if secretHash == "" {
		return fmt.Errorf("enrollment token %q: empty secret hash", t.ID)
	}
	return inTx(ctx, s.db, func(tx *sql.Tx) error {
		if _, err := users.get(ctx, tx, t.User); err != nil {
			return fmt.Errorf("enrollment token %q: %w", t.ID, err)
		}
		return tokens.create(ctx, tx, tokenRow{t, secretHash})
	})
}

// ListEnrollmentTokens implements Store.
func (s *SQLite) ListEnrollmentTokens(ctx context.Context) ([]api.EnrollmentToken, error) {
	rows, err := tokens.list(ctx, s.db)
	if err != nil {
		return nil, err
	}
	out := make([]api.EnrollmentToken, len(rows))
	for i, r := range rows {
		out[i] = r.EnrollmentToken
	}
	return out, nil
}

// DeleteEnrollmentToken implements Store.
func (s *SQLite) DeleteEnrollmentToken(ctx context.Context, id string) error {
	return tokens.delete(ctx, s.db, id)
}

// EnrollDevice implements Store.
func (s *SQLite) EnrollDevice(ctx context.Context, secretHash string, now time.Time, dev api.Device) (api.Device, error) {
	var stored api.Device
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		t, err := tokens.getBy(ctx, tx, "secret_hash", secretHash)
		switch {
		case errors.Is(err, ErrNotFound) || secretHash == "":
			return ErrTokenUnknown
		case err != nil:
			return err
		}
		if err := spendable("token", t.ID, t.Used, t.ExpiresAt, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE enrollment_tokens SET used = 1 WHERE id = ?", t.ID); err != nil {
			return fmt.Errorf("enrollment token %q: mark used: %w", t.ID, err)
		}
		dev.User = t.User
		stored, err = insertDevice(ctx, tx, now, dev)
		return err
	})
	if err != nil {
		return api.Device{}, err
	}
	return stored, nil
}

// EnrollSignedIn implements Store.
func (s *SQLite) EnrollSignedIn(ctx context.Context, now time.Time, dev api.Device) (api.Device, error) {
	var stored api.Device
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		a, err := account(ctx, tx, dev.User)
		if err != nil {
			return fmt.Errorf("enroll device for %q: %w", dev.User, err)
		}
		if !a.DisabledAt.IsZero() {
			return fmt.Errorf("enroll device for %q: %w", dev.User, ErrUserDisabled)
		}
		stored, err = insertDevice(ctx, tx, now, dev)
		return err
	})
	if err != nil {
		return api.Device{}, err
	}
	return stored, nil
}

// insertDevice stores dev for dev.User in tx, in the state a new device
// gets, and returns it as stored.
func insertDevice(ctx context.Context, tx *sql.Tx, now time.Time, dev api.Device) (api.Device, error) {
	dev.Online, dev.Posture = false, nil
	if dev.ID == "" {
		dev.ID = rand.Text()
	}
	if dev.EnrolledAt.IsZero() {
		dev.EnrolledAt = now
	}
	if err := devices.create(ctx, tx, dev); err != nil {
		return api.Device{}, err
	}
	state, err := initialDeviceState(ctx, tx)
	if err != nil {
		return api.Device{}, err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE devices SET state = ? WHERE id = ?", state, dev.ID); err != nil {
		return api.Device{}, fmt.Errorf("device %q: set state: %w", dev.ID, err)
	}
	return devices.get(ctx, tx, dev.ID)
}

// GetDevice implements Store.
func (s *SQLite) GetDevice(ctx context.Context, id string) (api.Device, error) {
	return devices.get(ctx, s.db, id)
}

// ListDevices implements Store.
func (s *SQLite) ListDevices(ctx context.Context) ([]api.Device, error) {
	return devices.list(ctx, s.db)
}

// DeleteDevice implements Store.
func (s *SQLite) DeleteDevice(ctx context.Context, id string) error {
	return devices.delete(ctx, s.db, id)
}

// AdminTokenHash implements Store.
func (s *SQLite) AdminTokenHash(ctx context.Context) (string, error) {
	v, err := settings.get(ctx, s.db, adminTokenKey)
	if errors.Is(err, ErrNotFound) {
		return "", fmt.Errorf("admin token: %w", ErrNotFound)
	}
	return v.value, err
}

// SetAdminTokenHash implements Store.
func (s *SQLite) SetAdminTokenHash(ctx context.Context, hash string) error {
	if hash == "" {
		return errors.New("admin token: empty hash")
	}
	_, err := s.db.ExecContext(ctx,
		"INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
		adminTokenKey, hash)
	if err != nil {
		return fmt.Errorf("set admin token: %w", err)
	}
	return nil
}

// spendable says why a single-use token (kind "token" for devices,
// "gateway token") cannot be spent now, or nil.
func spendable(kind, id string, used bool, expiresAt, now time.Time) error {
	switch {
	case used:
		return fmt.Errorf("%w: %s %q", ErrTokenUsed, kind, id)
	case !now.Before(expiresAt):
		return fmt.Errorf("%w: %s %q expired at %s", ErrTokenExpired, kind, id, expiresAt.Format(time.RFC3339))
	}
	return nil
}
