package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// sessionRow is a session as stored: with the hashes of its current tokens.
type sessionRow struct {
	Session
	TokenSet
}

var sessionsTable = newTable("session", "sessions",
	[]string{"id", "user_name", "device_id", "methods", "auth_at", "mfa_at", "created_at", "expires_at",
		"access_hash", "access_expires_at", "refresh_hash", "refresh_expires_at",
		"generation", "refreshed_at", "revoked_at", "revoke_reason"},
	func(r *sessionRow) []any {
		return []any{&r.ID, &r.User, &r.Device, listCol{&r.Methods}, timeCol{&r.AuthAt}, optTimeCol{&r.MFAAt},
			timeCol{&r.CreatedAt}, timeCol{&r.ExpiresAt},
			&r.AccessHash, timeCol{&r.Session.AccessExpiresAt}, &r.RefreshHash, timeCol{&r.Session.RefreshExpiresAt},
			&r.Generation, optTimeCol{&r.RefreshedAt}, optTimeCol{&r.RevokedAt}, &r.RevokeReason}
	})

// CreateSession implements IdentityStore.
func (s *SQLite) CreateSession(ctx context.Context, sess Session, tokens TokenSet) error {
	if sess.ID == "" || sess.Device == "" || tokens.AccessHash == "" || tokens.RefreshHash == "" {
		return fmt.Errorf("session %q: ID, device and token hashes are required", sess.ID)
	}
	return inTx(ctx, s.db, func(tx *sql.Tx) error { return createSession(ctx, tx, sess, tokens) })
}

// createSession is CreateSession within tx.
func createSession(ctx context.Context, tx *sql.Tx, sess Session, tokens TokenSet) error {
	sess.AccessExpiresAt, sess.RefreshExpiresAt = tokens.AccessExpiresAt, tokens.RefreshExpiresAt
	sess.Generation, sess.RefreshedAt, sess.RevokedAt, sess.RevokeReason = 1, time.Time{}, time.Time{}, ""
	a, err := account(ctx, tx, sess.User)
	if err != nil {
		return fmt.Errorf("session for %q: %w", sess.User, err)
	}
	if !a.DisabledAt.IsZero() {
		return fmt.Errorf("user %q: %w", sess.User, ErrUserDisabled)
	}
	var state string
	err = tx.QueryRowContext(ctx, "SELECT state FROM devices WHERE id = ?", sess.Device).Scan(&state)
	switch {
	case err == nil && state == DeviceBlocked:
		return fmt.Errorf("device %q: %w", sess.Device, ErrDeviceBlocked)
	case err != nil && !errors.Is(err, sql.ErrNoRows): // a browser has no device row
		return fmt.Errorf("session for device %q: %w", sess.Device, err)
	}
	if err := sessionsTable.create(ctx, tx, sessionRow{sess, tokens}); err != nil {
		return err
	}
	// Signed in on: the device is interactive from now on, in the
	// same transaction, so no grant is decided in between without it.
	if _, err := tx.ExecContext(ctx, "UPDATE devices SET interactive = 1 WHERE id = ? AND interactive = 0", sess.Device); err != nil {
		return fmt.Errorf("mark device %q interactive: %w", sess.Device, err)
	}
	return nil
}

// SessionByAccess implements IdentityStore.
func (s *SQLite) SessionByAccess(ctx context.Context, accessHash string) (Session, error) {
	r, err := sessionsTable.getBy(ctx, s.db, "access_hash", accessHash)
	if errors.Is(err, ErrNotFound) || accessHash == "" {
		return Session{}, fmt.Errorf("access token: %w", ErrNotFound)
	}
	return r.Session, err
}

// GetSession implements IdentityStore.
func (s *SQLite) GetSession(ctx context.Context, id string) (Session, error) {
	r, err := sessionsTable.get(ctx, s.db, id)
	return r.Session, err
}

// RotateRefresh implements IdentityStore.
func (s *SQLite) RotateRefresh(ctx context.Context, refreshHash, device string, now time.Time, next TokenSet) (Session, error) {
	if refreshHash == "" || next.AccessHash == "" || next.RefreshHash == "" {
		return Session{}, errors.New("rotate refresh token: empty token hash")
	}
	var (
		out     Session
		outcome error // returned after the transaction commits: a revocation must stick
	)
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		r, err := sessionsTable.getBy(ctx, tx, "refresh_hash", refreshHash)
		if errors.Is(err, ErrNotFound) {
			out, outcome, err = spentRefresh(ctx, tx, refreshHash, now)
			return err
		}
		if err != nil {
			return err
		}
		switch {
		case !r.RevokedAt.IsZero():
			outcome = fmt.Errorf("session %q: %w (%s)", r.ID, ErrSessionRevoked, r.RevokeReason)
			return nil
		case r.Device != device:
			out, err = revokeOne(ctx, tx, r.Session, now, ReasonWrongDevice)
			outcome = fmt.Errorf("session %q: %w", r.ID, ErrWrongDevice)
			return err
		case !now.Before(r.Session.RefreshExpiresAt) || !now.Before(r.ExpiresAt):
			outcome = fmt.Errorf("session %q: %w", r.ID, ErrSessionExpired)
			return nil
		}
		next.AccessExpiresAt = notAfter(next.AccessExpiresAt, r.ExpiresAt)
		next.RefreshExpiresAt = notAfter(next.RefreshExpiresAt, r.ExpiresAt)
		if _, err := tx.ExecContext(ctx, "INSERT INTO spent_refresh_tokens (hash, session_id) VALUES (?, ?)", refreshHash, r.ID); err != nil {
			return fmt.Errorf("session %q: spend refresh token: %w", r.ID, err)
		}
		_, err = tx.ExecContext(ctx, `UPDATE sessions SET access_hash = ?, access_expires_at = ?, refresh_hash = ?,
			refresh_expires_at = ?, generation = generation + 1, refreshed_at = ? WHERE id = ?`,
			next.AccessHash, timeCol{&next.AccessExpiresAt}, next.RefreshHash, timeCol{&next.RefreshExpiresAt}, timeCol{&now}, r.ID)
		if err != nil {
			return fmt.Errorf("session %q: rotate tokens: %w", r.ID, err)
		}
		r, err = sessionsTable.get(ctx, tx, r.ID)
		out = r.Session
		return err
	})
	if err != nil {
		return Session{}, err
	}
	return out, outcome
}

// notAfter is t, or end if t is later.
func notAfter(t, end time.Time) time.Time {
	if t.After(end) {
		return end
	}
	return t
}

// spentRefresh handles a refresh token that is no session's current one:
// unknown, or spent before — then its session is revoked as stolen. The
// outcome is what RotateRefresh answers once the transaction commits; err
// means the transaction failed.
func spentRefresh(ctx context.Context, tx *sql.Tx, refreshHash string, now time.Time) (revoked Session, outcome, err error) {
	var id string
	err = tx.QueryRowContext(ctx, "SELECT session_id FROM spent_refresh_tokens WHERE hash = ?", refreshHash).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, fmt.Errorf("refresh token: %w", ErrNotFound), nil
	}
	if err != nil {
		return Session{}, nil, fmt.Errorf("look up spent refresh token: %w", err)
	}
	r, err := sessionsTable.get(ctx, tx, id)
	if err != nil {
		return Session{}, nil, err
	}
	if !r.RevokedAt.IsZero() {
		return Session{}, fmt.Errorf("session %q: %w (%s)", id, ErrSessionRevoked, r.RevokeReason), nil
	}
	revoked, err = revokeOne(ctx, tx, r.Session, now, ReasonRefreshReused)
	return revoked, fmt.Errorf("session %q: %w", id, ErrRefreshReused), err
}

// revokeOne revokes the live session sess at now with reason and returns
// it as revoked.
func revokeOne(ctx context.Context, tx *sql.Tx, sess Session, now time.Time, reason string) (Session, error) {
	revoked, err := revokeWhere(ctx, tx, "id = ?", sess.ID, now, reason)
	if err != nil || len(revoked) == 0 {
		return Session{}, err
	}
	return revoked[0], nil
}

// revokeWhere revokes the live sessions whose column matches cond (one
// placeholder, arg) at now with reason, and returns them as revoked.
func revokeWhere(ctx context.Context, tx *sql.Tx, cond string, arg any, now time.Time, reason string) ([]Session, error) {
	return revokeWhereArgs(ctx, tx, cond, []any{arg}, now, reason)
}

// revokeWhereArgs is revokeWhere for a cond with several arguments.
func revokeWhereArgs(ctx context.Context, tx *sql.Tx, cond string, args []any, now time.Time, reason string) ([]Session, error) {
	live, err := sessionsWhere(ctx, tx, "revoked_at = '' AND "+cond, args...)
	if err != nil {
		return nil, err
	}
	_, err = tx.ExecContext(ctx, "UPDATE sessions SET revoked_at = ?, revoke_reason = ? WHERE revoked_at = '' AND "+cond,
		append([]any{timeCol{&now}, reason}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("revoke sessions: %w", err)
	}
	for i := range live {
		live[i].RevokedAt, live[i].RevokeReason = now, reason
	}
	return live, nil
}

// sessionsWhere returns the sessions matching cond (with args), by ID.
func sessionsWhere(ctx context.Context, q querier, cond string, args ...any) ([]Session, error) {
	rows, err := q.QueryContext(ctx, sessionsTable.selectSQL+" WHERE "+cond+" ORDER BY id", args...)
	if err != nil {
		return nil, fmt.Errorf("read sessions: %w", err)
	}
	defer rows.Close()
	out := []Session{}
	for rows.Next() {
		var r sessionRow
		if err := rows.Scan(sessionsTable.fields(&r)...); err != nil {
			return nil, fmt.Errorf("read sessions: %w", err)
		}
		out = append(out, r.Session)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read sessions: %w", err)
	}
	return out, nil
}

// RevokeSession implements IdentityStore.
func (s *SQLite) RevokeSession(ctx context.Context, id string, now time.Time, reason string) ([]Session, error) {
	var revoked []Session
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		if _, err := sessionsTable.get(ctx, tx, id); err != nil {
			return err
		}
		var err error
		revoked, err = revokeWhere(ctx, tx, "id = ?", id, now, reason)
		return err
	})
	return revoked, err
}

// RevokeUserSessions implements IdentityStore.
func (s *SQLite) RevokeUserSessions(ctx context.Context, user string, now time.Time, reason string) ([]Session, error) {
	var revoked []Session
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		var err error
		revoked, err = revokeWhere(ctx, tx, "user_name = ?", user, now, reason)
		return err
	})
	return revoked, err
}

// ListSessions implements IdentityStore.
func (s *SQLite) ListSessions(ctx context.Context, user string) ([]Session, error) {
	return sessionsWhere(ctx, s.db, "user_name = ?", user)
}

// ListAllSessions implements IdentityStore.
func (s *SQLite) ListAllSessions(ctx context.Context) ([]Session, error) {
	return sessionsWhere(ctx, s.db, "1 = 1")
}

// PurgeSessions implements IdentityStore; spent refresh tokens cascade.
func (s *SQLite) PurgeSessions(ctx context.Context, before time.Time) (int, error) {
	b := timeCol{&before}
	res, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE (revoked_at != '' AND revoked_at < ?)
		OR expires_at < ? OR refresh_expires_at < ?`, b, b, b)
	if err != nil {
		return 0, fmt.Errorf("purge sessions: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
