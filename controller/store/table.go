package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// table maps one kind of named object onto one SQL table whose first column
// is its primary key. It holds the create/update/get/delete/list shape that
// every kind shares, so each kind only lists its columns.
type table[T any] struct {
	noun   string         // names the object in errors: "app"
	name   string         // SQL table
	key    string         // primary key column, cols[0]
	fields func(*T) []any // one pointer (or column adapter) per column
	// fill, if set, completes rows read by get and list with what lives
	// outside the table.
	fill func(ctx context.Context, q querier, vs []T) error

	insertSQL, updateSQL, selectSQL, deleteSQL string
}

// newTable describes table name with cols, the key first; fields must return
// destinations in the same order.
func newTable[T any](noun, name string, cols []string, fields func(*T) []any) *table[T] {
	key, rest := cols[0], cols[1:]
	sets := make([]string, len(rest))
	for i, c := range rest {
		sets[i] = c + " = ?"
	}
	quoted := `"` + name + `"` // "groups" is an SQL keyword
	return &table[T]{
		noun: noun, name: name, key: key, fields: fields,
		insertSQL: fmt.Sprintf("INSERT INTO %s (%s) VALUES (?%s) ON CONFLICT (%s) DO NOTHING",
			quoted, strings.Join(cols, ", "), strings.Repeat(", ?", len(rest)), key),
		updateSQL: fmt.Sprintf("UPDATE %s SET %s WHERE %s = ?", quoted, strings.Join(sets, ", "), key),
		selectSQL: fmt.Sprintf("SELECT %s FROM %s", strings.Join(cols, ", "), quoted),
		deleteSQL: fmt.Sprintf("DELETE FROM %s WHERE %s = ?", quoted, key),
	}
}

// withFill sets t.fill and returns t.
func (t *table[T]) withFill(fill func(ctx context.Context, q querier, vs []T) error) *table[T] {
	t.fill = fill
	return t
}

// keyOf returns v's primary key.
func (t *table[T]) keyOf(v *T) string { return *t.fields(v)[0].(*string) }

// create inserts v. ErrExists if its key is taken.
func (t *table[T]) create(ctx context.Context, q querier, v T) error {
	k := t.keyOf(&v)
	if k == "" {
		return fmt.Errorf("create %s: empty name", t.noun)
	}
	res, err := q.ExecContext(ctx, t.insertSQL, t.fields(&v)...)
	return t.affected(res, err, "create", k, ErrExists)
}

// update replaces every column of the row with v's key. ErrNotFound if absent.
func (t *table[T]) update(ctx context.Context, q querier, v T) error {
	args := t.fields(&v)
	res, err := q.ExecContext(ctx, t.updateSQL, append(args[1:], args[0])...)
	return t.affected(res, err, "update", t.keyOf(&v), ErrNotFound)
}

// delete removes the row with key k. ErrNotFound if absent.
func (t *table[T]) delete(ctx context.Context, q querier, k string) error {
	res, err := q.ExecContext(ctx, t.deleteSQL, k)
	return t.affected(res, err, "delete", k, ErrNotFound)
}

// affected turns the outcome of a one-row write into an error naming the
// object: ifNone when no row was touched.
func (t *table[T]) affected(res sql.Result, err error, verb, k string, ifNone error) error {
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && n == 0 {
			return fmt.Errorf("%s %q: %w", t.noun, k, ifNone)
		}
	}
	if err != nil {
		return fmt.Errorf("%s %s %q: %w", verb, t.noun, k, err)
	}
	return nil
}

// get returns the row with key k. ErrNotFound if absent.
func (t *table[T]) get(ctx context.Context, q querier, k string) (T, error) {
	return t.getBy(ctx, q, t.key, k)
}

// getBy returns the row whose column col (a unique one) equals val.
// ErrNotFound if none.
func (t *table[T]) getBy(ctx context.Context, q querier, col, val string) (T, error) {
	var v T
	err := q.QueryRowContext(ctx, t.selectSQL+" WHERE "+col+" = ?", val).Scan(t.fields(&v)...)
	if errors.Is(err, sql.ErrNoRows) {
		return v, fmt.Errorf("%s %q: %w", t.noun, val, ErrNotFound)
	}
	if err != nil {
		return v, fmt.Errorf("get %s %q: %w", t.noun, val, err)
	}
	vs := []T{v}
	if err := t.filled(ctx, q, vs); err != nil {
		return v, err
	}
	return vs[0], nil
}

// list returns every row, sorted by key.
func (t *table[T]) list(ctx context.Context, q querier) ([]T, error) {
	rows, err := q.QueryContext(ctx, t.selectSQL+" ORDER BY "+t.key)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", t.name, err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		var v T
		if err := rows.Scan(t.fields(&v)...); err != nil {
			return nil, fmt.Errorf("list %s: %w", t.name, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list %s: %w", t.name, err)
	}
	if err := t.filled(ctx, q, out); err != nil {
		return nil, err
	}
	return out, nil
}

func (t *table[T]) filled(ctx context.Context, q querier, vs []T) error {
	if t.fill == nil || len(vs) == 0 {
		return nil
	}
	if err := t.fill(ctx, q, vs); err != nil {
		return fmt.Errorf("read %s: %w", t.name, err)
	}
	return nil
}
