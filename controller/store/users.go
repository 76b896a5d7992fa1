package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// Users and groups keep their rows in users and groups; who is in which
// group lives only in group_members and fills User.Groups and Group.Members.
var (
	users = newTable("user", "users", []string{"name", "email"},
		func(u *api.User) []any { return []any{&u.Name, &u.Email} },
	).withFill(memberFill(byUser, func(u *api.User) (string, *[]string) { return u.Name, &u.Groups }))
	groups = newTable("group", "groups", []string{"name"},
		func(g *api.Group) []any { return []any{&g.Name} },
	).withFill(memberFill(byGroup, func(g *api.Group) (string, *[]string) { return g.Name, &g.Members }))
)

// CreateUser implements Store.
func (s *SQLite) CreateUser(ctx context.Context, u api.User) error {
	return s.writeUser(ctx, u, users.create)
}

// UpdateUser implements Store.
func (s *SQLite) UpdateUser(ctx context.Context, u api.User) error {
	return s.writeUser(ctx, u, users.update)
}

// writeUser writes u's row with write, then its group membership, in one
// transaction.
func (s *SQLite) writeUser(ctx context.Context, u api.User, write func(context.Context, querier, api.User) error) error {
	return inTx(ctx, s.db, func(tx *sql.Tx) error {
		if err := write(ctx, tx, u); err != nil {
			return err
		}
		return setGroups(ctx, tx, u.Name, u.Groups)
	})
}

// GetUser implements Store.
func (s *SQLite) GetUser(ctx context.Context, name string) (api.User, error) {
	return users.get(ctx, s.db, name)
}

// DeleteUser implements Store; memberships, tokens and devices cascade.
// It refuses (ErrLastOwner) to delete the only owner: the account would
// go with the user (a cascade), leaving nobody to administer.
func (s *SQLite) DeleteUser(ctx context.Context, name string) error {
	return inTx(ctx, s.db, func(tx *sql.Tx) error {
		var others int
		err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE role = ? AND user_name != ?`, roleOwner, name).Scan(&others)
		if err != nil {
			return fmt.Errorf("count owners: %w", err)
		}
		var role string
		err = tx.QueryRowContext(ctx, `SELECT role FROM accounts WHERE user_name = ?`, name).Scan(&role)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("user %q: %w", name, err)
		}
		if role == roleOwner && others == 0 {
			return fmt.Errorf("user %q: %w: make another user owner first (gatehouse admin users set-role USER owner)", name, ErrLastOwner)
		}
		return users.delete(ctx, tx, name)
	})
}

// ListUsers implements Store.
func (s *SQLite) ListUsers(ctx context.Context) ([]api.User, error) {
	return users.list(ctx, s.db)
}

// CreateGroup implements Store.
func (s *SQLite) CreateGroup(ctx context.Context, g api.Group) error {
	return groups.create(ctx, s.db, g)
}

// GetGroup implements Store.
func (s *SQLite) GetGroup(ctx context.Context, name string) (api.Group, error) {
	return groups.get(ctx, s.db, name)
}

// DeleteGroup implements Store; memberships cascade.
func (s *SQLite) DeleteGroup(ctx context.Context, name string) error {
	return groups.delete(ctx, s.db, name)
}

// ListGroups implements Store.
func (s *SQLite) ListGroups(ctx context.Context) ([]api.Group, error) {
	return groups.list(ctx, s.db)
}

// AddMember implements Store.
func (s *SQLite) AddMember(ctx context.Context, group, user string) error {
	return inTx(ctx, s.db, func(tx *sql.Tx) error {
		if _, err := groups.get(ctx, tx, group); err != nil {
			return err
		}
		if _, err := users.get(ctx, tx, user); err != nil {
			return err
		}
		return addMember(ctx, tx, group, user)
	})
}

// RemoveMember implements Store.
func (s *SQLite) RemoveMember(ctx context.Context, group, user string) error {
	res, err := s.db.ExecContext(ctx,
		"DELETE FROM group_members WHERE group_name = ? AND user_name = ?", group, user)
	if err != nil {
		return fmt.Errorf("remove user %q from group %q: %w", user, group, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("remove user %q from group %q: %w", user, group, err)
	}
	if n == 0 {
		return fmt.Errorf("user %q in group %q: %w", user, group, ErrNotFound)
	}
	return nil
}

// setGroups makes user a member of exactly groups, creating the groups that
// do not exist yet: User.Groups is declarative, as an IdP's groups claim is.
func setGroups(ctx context.Context, tx *sql.Tx, user string, groups []string) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM group_members WHERE user_name = ?", user); err != nil {
		return fmt.Errorf("user %q: clear groups: %w", user, err)
	}
	for _, g := range groups {
		if g == "" {
			return fmt.Errorf("user %q: empty group name", user)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO "groups" (name) VALUES (?) ON CONFLICT DO NOTHING`, g); err != nil {
			return fmt.Errorf("user %q: create group %q: %w", user, g, err)
		}
		if err := addMember(ctx, tx, g, user); err != nil {
			return err
		}
	}
	return nil
}

func addMember(ctx context.Context, q querier, group, user string) error {
	_, err := q.ExecContext(ctx,
		"INSERT INTO group_members (group_name, user_name) VALUES (?, ?) ON CONFLICT DO NOTHING", group, user)
	if err != nil {
		return fmt.Errorf("add user %q to group %q: %w", user, group, err)
	}
	return nil
}

// side is one end of group_members, the column a lookup is keyed by.
type side struct{ col, other string }

var (
	byUser  = side{col: "user_name", other: "group_name"}
	byGroup = side{col: "group_name", other: "user_name"}
)

// memberFill returns a table fill func that sets, for each object, the list
// slot names to the sorted names on the other side of group_members.
func memberFill[T any](sd side, slot func(*T) (string, *[]string)) func(context.Context, querier, []T) error {
	return func(ctx context.Context, q querier, vs []T) error {
		query := fmt.Sprintf("SELECT %s, %s FROM group_members", sd.col, sd.other)
		var args []any
		if len(vs) == 1 { // a get: read only its rows
			name, _ := slot(&vs[0])
			query += " WHERE " + sd.col + " = ?"
			args = append(args, name)
		}
		rows, err := q.QueryContext(ctx, query+" ORDER BY 1, 2", args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		m := map[string][]string{}
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				return err
			}
			m[k] = append(m[k], v)
		}
		for i := range vs {
			name, l := slot(&vs[i])
			*l = nonNil(m[name])
		}
		return rows.Err()
	}
}
