package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Passkey is a user's WebAuthn credential. Credential is opaque here
// (identity's JSON of go-webauthn's record); SignCount is kept apart so
// UsePasskey can compare and set it.
type Passkey struct {
	ID         string // the credential ID, base64url without padding
	User       string
	Name       string // the user's name for it, unique per user
	Credential []byte
	SignCount  uint32
	CreatedAt  time.Time
	LastUsedAt time.Time // zero if never used to sign in
}

// PasskeyStore is the durable state of WebAuthn passkeys (migration
// 0007_webauthn). *SQLite implements it. Each method is one transaction.
type PasskeyStore interface {
	// WebAuthnHandle returns user's WebAuthn user handle, storing
	// candidate as it if the user has none yet. ErrNotFound if no user.
	WebAuthnHandle(ctx context.Context, user string, candidate []byte) ([]byte, error)
	// UserByWebAuthnHandle returns the user whose handle it is.
	// ErrNotFound if none.
	UserByWebAuthnHandle(ctx context.Context, handle []byte) (string, error)
	// CreatePasskey stores p. ErrExists if its ID is stored already or the
	// user has a passkey of that name; ErrNotFound if no user.
	CreatePasskey(ctx context.Context, p Passkey) error
	// Passkeys returns user's passkeys sorted by name.
	Passkeys(ctx context.Context, user string) ([]Passkey, error)
	// PasskeyByID returns the passkey with credential ID id. ErrNotFound
	// if none.
	PasskeyByID(ctx context.Context, id string) (Passkey, error)
	// DeletePasskey deletes user's passkey id. ErrNotFound if user has
	// no such passkey.
	DeletePasskey(ctx context.Context, user, id string) error
	// UsePasskey records a sign-in with passkey id at at whose
	// authenticator counted signCount. ErrReplayed when the stored count
	// is signCount or more (unless both are 0: an authenticator without a
	// counter): the counter went backwards, so the key may be cloned.
	// ErrNotFound if no such passkey.
	UsePasskey(ctx context.Context, id string, signCount uint32, at time.Time) error
}

var _ PasskeyStore = (*SQLite)(nil)

var passkeys = newTable("passkey", "passkeys",
	[]string{"id", "user_name", "name", "credential", "sign_count", "created_at", "last_used_at"},
	func(p *Passkey) []any {
		return []any{&p.ID, &p.User, &p.Name, &p.Credential, &p.SignCount, timeCol{&p.CreatedAt}, optTimeCol{&p.LastUsedAt}}
	})

// WebAuthnHandle implements PasskeyStore.
func (s *SQLite) WebAuthnHandle(ctx context.Context, user string, candidate []byte) ([]byte, error) {
	if len(candidate) == 0 {
		return nil, fmt.Errorf("webauthn handle of %q: empty candidate", user)
	}
	var h []byte
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		if _, err := users.get(ctx, tx, user); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO webauthn_users (user_name, handle) VALUES (?, ?) ON CONFLICT (user_name) DO NOTHING",
			user, candidate); err != nil {
			return fmt.Errorf("webauthn handle of %q: %w", user, err)
		}
		return tx.QueryRowContext(ctx, "SELECT handle FROM webauthn_users WHERE user_name = ?", user).Scan(&h)
	})
	return h, err
}

// UserByWebAuthnHandle implements PasskeyStore.
func (s *SQLite) UserByWebAuthnHandle(ctx context.Context, handle []byte) (string, error) {
	var user string
	err := s.db.QueryRowContext(ctx, "SELECT user_name FROM webauthn_users WHERE handle = ?", handle).Scan(&user)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("webauthn user handle: %w", ErrNotFound)
	}
	return user, err
}

// CreatePasskey implements PasskeyStore.
func (s *SQLite) CreatePasskey(ctx context.Context, p Passkey) error {
	if p.ID == "" || p.User == "" || p.Name == "" || len(p.Credential) == 0 {
		return fmt.Errorf("passkey %q: ID, user, name and credential are required", p.Name)
	}
	return inTx(ctx, s.db, func(tx *sql.Tx) error {
		if _, err := users.get(ctx, tx, p.User); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM passkeys WHERE user_name = ? AND name = ?", p.User, p.Name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("passkey %q of %q %w: choose another name", p.Name, p.User, ErrExists)
		}
		return passkeys.create(ctx, tx, p)
	})
}

// Passkeys implements PasskeyStore.
func (s *SQLite) Passkeys(ctx context.Context, user string) ([]Passkey, error) {
	rows, err := s.db.QueryContext(ctx, passkeys.selectSQL+" WHERE user_name = ? ORDER BY name", user)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Passkey{}
	for rows.Next() {
		var p Passkey
		if err := rows.Scan(passkeys.fields(&p)...); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// PasskeyByID implements PasskeyStore.
func (s *SQLite) PasskeyByID(ctx context.Context, id string) (Passkey, error) {
	return passkeys.get(ctx, s.db, id)
}

// DeletePasskey implements PasskeyStore.
func (s *SQLite) DeletePasskey(ctx context.Context, user, id string) error {
	res, err := s.db.ExecContext(ctx, "DELETE FROM passkeys WHERE id = ? AND user_name = ?", id, user)
	if err != nil {
		return fmt.Errorf("delete passkey of %q: %w", user, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("passkey %s of %q: %w", shortID(id), user, ErrNotFound)
	}
	return nil
}

// UsePasskey implements PasskeyStore.
func (s *SQLite) UsePasskey(ctx context.Context, id string, signCount uint32, at time.Time) error {
	return inTx(ctx, s.db, func(tx *sql.Tx) error {
		var stored uint32
		err := tx.QueryRowContext(ctx, "SELECT sign_count FROM passkeys WHERE id = ?", id).Scan(&stored)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("passkey %s: %w", shortID(id), ErrNotFound)
		}
		if err != nil {
			return err
		}
		if signCount <= stored && (signCount != 0 || stored != 0) {
			return fmt.Errorf("passkey %s: signature counter %d, stored %d: %w", shortID(id), signCount, stored, ErrReplayed)
		}
		_, err = tx.ExecContext(ctx, "UPDATE passkeys SET sign_count = ?, last_used_at = ? WHERE id = ?", signCount, timeCol{&at}, id)
		return err
	})
}

// shortID shortens a credential ID for messages.
func shortID(id string) string {
	if len(id) > 12 {
		return id[:12] + "…"
	}
	return id
}
