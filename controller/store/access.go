package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// AccessStore holds just-in-time access requests (api/access.go). *SQLite
// implements it. Requests are never deleted: a request's state moves
// forward only, one compare-and-set at a time, so two approvers racing
// (approve against deny) leave exactly one decision.
type AccessStore interface {
	// CreateAccessRequest stores r (state pending), in one transaction
	// with its checks: ErrTooMany when r.User already has maxPending
	// pending requests, ErrExists when r.User has a request for r.App
	// pending or approved past now.
	CreateAccessRequest(ctx context.Context, r api.AccessRequest, now time.Time, maxPending int) error
	// GetAccessRequest returns the request. ErrNotFound if absent.
	GetAccessRequest(ctx context.Context, id string) (api.AccessRequest, error)
	// ListAccessRequests returns the requests in state (all for ""),
	// newest first.
	ListAccessRequests(ctx context.Context, state string) ([]api.AccessRequest, error)
	// UpdateAccessRequest writes r's decision and end fields (state,
	// decided by/at, note, granted, expires at, ended at) if the stored
	// request is still in state from: ErrNotFound if there is none,
	// ErrStateChanged (naming its state now) if it moved on.
	UpdateAccessRequest(ctx context.Context, r api.AccessRequest, from string) error
}

var _ AccessStore = (*SQLite)(nil)

// Errors of AccessStore.
var (
	ErrTooMany      = errors.New("too many")
	ErrStateChanged = errors.New("state changed")
)

var accessRequests = newTable("access request", "access_requests",
	[]string{"id", "user_name", "device_id", "app_name", "policy_name", "approvers", "reason", "asked", "state",
		"requested_at", "decided_by", "decided_at", "note", "granted", "expires_at", "ended_at"},
	func(r *api.AccessRequest) []any {
		return []any{&r.ID, &r.User, &r.Device, &r.App, &r.Policy, &r.Approvers, &r.Reason, &r.For, &r.State,
			timeCol{&r.RequestedAt}, &r.DecidedBy, optTimeCol{&r.DecidedAt}, &r.Note, &r.Granted,
			optTimeCol{&r.ExpiresAt}, optTimeCol{&r.EndedAt}}
	})

// CreateAccessRequest implements AccessStore.
func (s *SQLite) CreateAccessRequest(ctx context.Context, r api.AccessRequest, now time.Time, maxPending int) error {
	return inTx(ctx, s.db, func(tx *sql.Tx) error {
		var pending, open int
		err := tx.QueryRowContext(ctx, `SELECT
			COUNT(*) FILTER (WHERE state = ?),
			COUNT(*) FILTER (WHERE app_name = ? AND (state = ? OR (state = ? AND expires_at > ?)))
			FROM access_requests WHERE user_name = ?`,
			api.RequestPending, r.App, api.RequestPending, api.RequestApproved, now.UTC().Format(timeLayout), r.User).Scan(&pending, &open)
		if err != nil {
			return fmt.Errorf("create access request: %w", err)
		}
		if open > 0 {
			return fmt.Errorf("access request of %q for %q: one is pending or approved already: %w", r.User, r.App, ErrExists)
		}
		if pending >= maxPending {
			return fmt.Errorf("access requests of %q: %d pending: %w", r.User, pending, ErrTooMany)
		}
		return accessRequests.create(ctx, tx, r)
	})
}

// GetAccessRequest implements AccessStore.
func (s *SQLite) GetAccessRequest(ctx context.Context, id string) (api.AccessRequest, error) {
	return accessRequests.get(ctx, s.db, id)
}

// ListAccessRequests implements AccessStore.
func (s *SQLite) ListAccessRequests(ctx context.Context, state string) ([]api.AccessRequest, error) {
	q := accessRequests.selectSQL
	var args []any
	if state != "" {
		q += " WHERE state = ?"
		args = append(args, state)
	}
	rows, err := s.db.QueryContext(ctx, q+" ORDER BY requested_at DESC, id", args...)
	if err != nil {
		return nil, fmt.Errorf("list access requests: %w", err)
	}
	defer rows.Close()
	out := []api.AccessRequest{}
	for rows.Next() {
		var r api.AccessRequest
		if err := rows.Scan(accessRequests.fields(&r)...); err != nil {
			return nil, fmt.Errorf("list access requests: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list access requests: %w", err)
	}
	return out, nil
}

// UpdateAccessRequest implements AccessStore.
func (s *SQLite) UpdateAccessRequest(ctx context.Context, r api.AccessRequest, from string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE access_requests SET state = ?, decided_by = ?, decided_at = ?, note = ?,
		granted = ?, expires_at = ?, ended_at = ? WHERE id = ? AND state = ?`,
		r.State, r.DecidedBy, optTimeCol{&r.DecidedAt}, r.Note, r.Granted, optTimeCol{&r.ExpiresAt}, optTimeCol{&r.EndedAt}, r.ID, from)
	if err != nil {
		return fmt.Errorf("update access request %s: %w", r.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	cur, err := s.GetAccessRequest(ctx, r.ID)
	if err != nil {
		return err
	}
	return fmt.Errorf("access request %s is %s, not %s: %w", r.ID, cur.State, from, ErrStateChanged)
}
