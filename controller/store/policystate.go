package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// PolicyState is the whole policy an admin keeps as code (policy files,
// controller/policyfile): groups with their members, apps, posture
// profiles, policies and exceptions, each list sorted by name (ID).
// Users are not part of it: they come from sign-up or an IdP.
type PolicyState struct {
	Groups     []api.Group
	Apps       []api.App
	Profiles   []api.PostureProfile
	Policies   []api.Policy
	Exceptions []api.Exception
}

// PolicyStore reads and replaces the PolicyState as a whole.
type PolicyStore interface {
	// ReadPolicy returns the live PolicyState, read in one transaction.
	ReadPolicy(ctx context.Context) (PolicyState, error)
	// ReplacePolicy, in one transaction, reads the live PolicyState,
	// calls check with it (an error aborts: nothing changes, and the
	// error is returned as is), then makes the stored state want:
	// objects of want are created or updated, the others deleted, every
	// group's members set to exactly its Members. Users are never
	// created or deleted: a member who is not a user fails with
	// ErrNotFound. On any error nothing changes.
	ReplacePolicy(ctx context.Context, want PolicyState, check func(live PolicyState) error) error
}

var _ PolicyStore = (*SQLite)(nil)

// ReadPolicy implements PolicyStore.
func (s *SQLite) ReadPolicy(ctx context.Context) (PolicyState, error) {
	var st PolicyState
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		var err error
		st, err = s.readPolicy(ctx, tx)
		return err
	})
	return st, err
}

func (s *SQLite) readPolicy(ctx context.Context, q querier) (PolicyState, error) {
	var st PolicyState
	var err error
	if st.Groups, err = groups.list(ctx, q); err != nil {
		return st, err
	}
	if st.Apps, err = apps.list(ctx, q); err != nil {
		return st, err
	}
	if st.Profiles, err = profiles.list(ctx, q); err != nil {
		return st, err
	}
	if st.Policies, err = policies.list(ctx, q); err != nil {
		return st, err
	}
	st.Exceptions, err = exceptionsTable.list(ctx, q)
	return st, err
}

// ReplacePolicy implements PolicyStore.
func (s *SQLite) ReplacePolicy(ctx context.Context, want PolicyState, check func(live PolicyState) error) error {
	return inTx(ctx, s.db, func(tx *sql.Tx) error {
		live, err := s.readPolicy(ctx, tx)
		if err != nil {
			return err
		}
		if err := check(live); err != nil {
			return err
		}
		// Policies first, groups last: nothing in SQL ties them, but a
		// reader of the order sees references go before their targets.
		if err := replaceRows(ctx, tx, policies, live.Policies, want.Policies); err != nil {
			return err
		}
		if err := replaceRows(ctx, tx, profiles, live.Profiles, want.Profiles); err != nil {
			return err
		}
		if err := replaceRows(ctx, tx, apps, live.Apps, want.Apps); err != nil {
			return err
		}
		if err := replaceRows(ctx, tx, groups, live.Groups, want.Groups); err != nil {
			return err
		}
		for _, g := range want.Groups {
			if err := setMembers(ctx, tx, g); err != nil {
				return err
			}
		}
		return replaceRows(ctx, tx, exceptionsTable, live.Exceptions, keepStamps(live.Exceptions, want.Exceptions))
	})
}

// replaceRows makes t's rows want: live rows missing from want are
// deleted (first, so a new row may take a unique value an old one held),
// the others updated or created.
func replaceRows[T any](ctx context.Context, q querier, t *table[T], live, want []T) error {
	keep, have := map[string]bool{}, map[string]bool{}
	for i := range want {
		keep[t.keyOf(&want[i])] = true
	}
	for i := range live {
		k := t.keyOf(&live[i])
		have[k] = true
		if !keep[k] {
			if err := t.delete(ctx, q, k); err != nil {
				return err
			}
		}
	}
	for _, v := range want {
		switch {
		case !have[t.keyOf(&v)]:
			if err := t.create(ctx, q, v); err != nil {
				return err
			}
		case len(t.fields(&v)) > 1: // a key-only row (a group) has nothing to update
			if err := t.update(ctx, q, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// keepStamps is want with each exception that is live keeping its live
// CreatedBy and CreatedAt: who made an exception, and when, is the
// store's record, not the file's.
func keepStamps(live, want []api.Exception) []api.Exception {
	byID := map[string]api.Exception{}
	for _, e := range live {
		byID[e.ID] = e
	}
	out := slices.Clone(want)
	for i, e := range out {
		if l, ok := byID[e.ID]; ok {
			out[i].CreatedBy, out[i].CreatedAt = l.CreatedBy, l.CreatedAt
		}
	}
	return out
}

// setMembers makes g's members exactly g.Members, each of them a user.
func setMembers(ctx context.Context, q querier, g api.Group) error {
	if _, err := q.ExecContext(ctx, "DELETE FROM group_members WHERE group_name = ?", g.Name); err != nil {
		return fmt.Errorf("group %q: clear members: %w", g.Name, err)
	}
	for _, m := range g.Members {
		if _, err := users.get(ctx, q, m); err != nil {
			return fmt.Errorf("group %q: member: %w", g.Name, err)
		}
		if err := addMember(ctx, q, g.Name, m); err != nil {
			return err
		}
	}
	return nil
}
