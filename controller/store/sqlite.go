package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// SQLite is the Store kept in one SQLite file (WAL mode, foreign keys on).
type SQLite struct {
	db *sql.DB
}

var _ Store = (*SQLite)(nil)

// busyTimeout is how long a write waits for another writer before failing
// with SQLITE_BUSY.
const busyTimeout = 5 * time.Second

// Open opens (creating if needed) the database at path, and its parent
// directory, and applies any migrations it has not seen yet.
func Open(ctx context.Context, path string) (*SQLite, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", dsn(abs))
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return &SQLite{db: db}, nil
}

// dsn is a file: URI for abs with the pragmas every pooled connection needs:
// foreign_keys and busy_timeout are per connection, WAL lets readers run
// beside the writer, and immediate transactions take the write lock up front
// so two writers queue on busy_timeout instead of failing mid-transaction.
func dsn(abs string) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive letter
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Set("_txlock", "immediate")
	return (&url.URL{Scheme: "file", Path: p, RawQuery: q.Encode()}).String()
}

// Close closes the database.
func (s *SQLite) Close() error { return s.db.Close() }

// querier is what *sql.DB and *sql.Tx share, so helpers run in either.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// inTx runs fn in one transaction, committed only if fn returns nil.
func inTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// timeLayout is RFC 3339 in UTC with fixed-width nanoseconds, so stored
// times read well and sort as text.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// timeCol stores a time.Time as timeLayout text.
type timeCol struct{ t *time.Time }

func (c timeCol) Value() (driver.Value, error) { return c.t.UTC().Format(timeLayout), nil }

func (c timeCol) Scan(src any) error {
	s, err := text(src)
	if err != nil {
		return err
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("stored time %q: %w", s, err)
	}
	*c.t = t
	return nil
}

// listCol stores a []string as a JSON array; it reads back non-nil.
type listCol struct{ l *[]string }

func (c listCol) Value() (driver.Value, error) {
	if *c.l == nil {
		return "[]", nil
	}
	b, err := json.Marshal(*c.l)
	return string(b), err
}

func (c listCol) Scan(src any) error {
	s, err := text(src)
	if err != nil {
		return err
	}
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return fmt.Errorf("stored list %q: %w", s, err)
	}
	*c.l = nonNil(l)
	return nil
}

func text(src any) (string, error) {
	switch v := src.(type) {
	case string:
		return v, nil
	case []byte:
		return string(v), nil
	}
	return "", fmt.Errorf("stored value %v (%T) is not text", src, src)
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// jsonCol stores a map or list as JSON, "{}"/"[]" when empty; unlike
// listCol an empty one reads back as nil (the zero value), so a field
// added later reads back as it was written.
type jsonCol[T ~map[string]string | ~[]string] struct {
	v     *T
	empty string // the JSON of none: "{}" or "[]"
}

func mapCol(m *map[string]string) jsonCol[map[string]string] {
	return jsonCol[map[string]string]{m, "{}"}
}
func optListCol(l *[]string) jsonCol[[]string] { return jsonCol[[]string]{l, "[]"} }

func (c jsonCol[T]) Value() (driver.Value, error) {
	if len(*c.v) == 0 {
		return c.empty, nil
	}
	b, err := json.Marshal(*c.v)
	return string(b), err
}

func (c jsonCol[T]) Scan(src any) error {
	s, err := text(src)
	if err != nil {
		return err
	}
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return fmt.Errorf("stored JSON %q: %w", s, err)
	}
	if len(v) == 0 {
		var zero T
		v = zero
	}
	*c.v = v
	return nil
}
