package store_test

import (
	"bytes"
	"database/sql"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// raw opens the database file behind the store's back.
func raw(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: path}).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestPersistence(t *testing.T) {
	s, path := newStore(t)
	ctx := t.Context()
	app := api.App{Name: "grafana", Upstreams: []string{"10.0.0.5:3000"}, Protocol: "tcp"}
	user := api.User{Name: "alice", Email: "alice@example.com", Groups: []string{"eng"}}
	tok := api.EnrollmentToken{ID: "t1", User: "alice", ExpiresAt: now.Add(time.Hour), Token: "s3cret-enrollment-token"}
	for _, err := range []error{
		s.CreateApp(ctx, app),
		s.CreateUser(ctx, user),
		s.SetAdminTokenHash(ctx, "admin-hash"),
		s.CreateEnrollmentToken(ctx, tok, "token-hash"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}

	s = open(t, path)
	if got, err := s.GetApp(ctx, "grafana"); err != nil || !reflect.DeepEqual(got, app) {
		t.Errorf("GetApp(%q) = %+v, %v, want %+v", "grafana", got, err, app)
	}
	if got, err := s.GetUser(ctx, "alice"); err != nil || !reflect.DeepEqual(got, user) {
		t.Errorf("GetUser(%q) = %+v, %v, want %+v", "alice", got, err, user)
	}
	if got, err := s.AdminTokenHash(ctx); err != nil || got != "admin-hash" {
		t.Errorf("AdminTokenHash() = %q, %v, want %q", got, err, "admin-hash")
	}
	if _, err := s.EnrollDevice(ctx, "token-hash", now, api.Device{ID: "d1"}); err != nil {
		t.Errorf("EnrollDevice(%q) after reopen = %v", "token-hash", err)
	}
	s.Close()

	// The enrollment secret is never written: only its hash.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(tok.Token)) || !bytes.Contains(b, []byte("token-hash")) {
		t.Errorf("database file holds the enrollment secret, or lacks its hash")
	}
}

func TestMigrations(t *testing.T) {
	_, path := newStore(t)
	open(t, path).Close() // a second Open finds nothing to apply

	db := raw(t, path)
	var versions, maxVersion int
	if err := db.QueryRow("SELECT COUNT(*), MAX(version) FROM schema_migrations").Scan(&versions, &maxVersion); err != nil {
		t.Fatal(err)
	}
	if versions != maxVersion || versions < 1 {
		t.Errorf("schema_migrations has %d rows up to version %d, want one row per version", versions, maxVersion)
	}
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v, want %q", mode, err, "wal")
	}

	// A newer controller migrated this file: refuse it.
	if _, err := db.Exec("INSERT INTO schema_migrations (version, applied_at) VALUES (?, '')", maxVersion+1); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err := store.Open(t.Context(), path); !errors.Is(err, store.ErrSchemaTooNew) {
		if err == nil {
			s.Close()
		}
		t.Errorf("Open(%q) at a newer schema = %v, want %v", path, err, store.ErrSchemaTooNew)
	}
}

func TestOpenBadPath(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(file, "gatehouse.db") // a directory that is a file
	if s, err := store.Open(t.Context(), path); err == nil {
		s.Close()
		t.Errorf("Open(%q) = nil, want an error", path)
	}
}
