package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// apiTokenRow is an API token as stored: with its hash, never the secret.
type apiTokenRow struct {
	APIToken
	hash string
}

var apiTokens = newTable("API token", "api_tokens",
	[]string{"id", "name", "role", "secret_hash", "created_by", "created_at", "expires_at", "revoked_at"},
	func(t *apiTokenRow) []any {
		return []any{&t.ID, &t.Name, &t.Role, &t.hash, &t.CreatedBy, timeCol{&t.CreatedAt}, timeCol{&t.ExpiresAt}, optTimeCol{&t.RevokedAt}}
	})

// CreateAPIToken implements IdentityStore.
func (s *SQLite) CreateAPIToken(ctx context.Context, t APIToken, secretHash string) error {
	if secretHash == "" || t.Name == "" || t.Role == "" {
		return fmt.Errorf("API token %q: name, role and secret hash are required", t.ID)
	}
	t.RevokedAt = time.Time{}
	return inTx(ctx, s.db, func(tx *sql.Tx) error {
		var live int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM api_tokens WHERE name = ? AND revoked_at = ''", t.Name).Scan(&live); err != nil {
			return fmt.Errorf("API token %q: %w", t.Name, err)
		}
		if live > 0 {
			return fmt.Errorf("API token named %q: %w (revoke it first, or pick another name)", t.Name, ErrExists)
		}
		return apiTokens.create(ctx, tx, apiTokenRow{t, secretHash})
	})
}

// APITokenByHash implements IdentityStore.
func (s *SQLite) APITokenByHash(ctx context.Context, secretHash string) (APIToken, error) {
	r, err := apiTokens.getBy(ctx, s.db, "secret_hash", secretHash)
	if errors.Is(err, ErrNotFound) || secretHash == "" {
		return APIToken{}, fmt.Errorf("API token: %w", ErrNotFound)
	}
	return r.APIToken, err
}

// ListAPITokens implements IdentityStore.
func (s *SQLite) ListAPITokens(ctx context.Context) ([]APIToken, error) {
	rows, err := apiTokens.list(ctx, s.db)
	if err != nil {
		return nil, err
	}
	out := make([]APIToken, len(rows))
	for i, r := range rows {
		out[i] = r.APIToken
	}
	return out, nil
}

// RevokeAPIToken implements IdentityStore.
func (s *SQLite) RevokeAPIToken(ctx context.Context, id string, now time.Time) error {
	res, err := s.db.ExecContext(ctx, "UPDATE api_tokens SET revoked_at = CASE revoked_at WHEN '' THEN ? ELSE revoked_at END WHERE id = ?",
		timeCol{&now}, id)
	return apiTokens.affected(res, err, "revoke", id, ErrNotFound)
}
