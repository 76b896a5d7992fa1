package keystore

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/internal/testenv"
)

// testStore runs the Store contract against s.
func testStore(t *testing.T, s Store) {
	t.Helper()
	if _, err := s.Get("device-key"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(missing) = %v, want ErrNotFound", err)
	}
	if err := s.Set("device-key", []byte{0, 1, 2, 255}); err != nil {
		t.Fatalf("Set = %v", err)
	}
	if err := s.Set("device-key", []byte("second")); err != nil {
		t.Fatalf("Set (replace) = %v", err)
	}
	got, err := s.Get("device-key")
	if err != nil || string(got) != "second" {
		t.Fatalf("Get = %q, %v, want %q", got, err, "second")
	}
	if err := s.Delete("device-key"); err != nil {
		t.Fatalf("Delete = %v", err)
	}
	if err := s.Delete("device-key"); err != nil {
		t.Fatalf("Delete(missing) = %v, want nil", err)
	}
	if _, err := s.Get("device-key"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete = %v, want ErrNotFound", err)
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	f := Files{Dir: dir}
	testStore(t, f)

	if err := f.Set("token", []byte("s3cret")); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, "secrets", "token"))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("secret file mode = %o, want 600", perm)
	}
	if info, _ := os.Stat(filepath.Join(dir, "secrets")); info.Mode().Perm() != 0o700 {
		t.Errorf("secrets dir mode = %o, want 700", info.Mode().Perm())
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, "secrets", "*.tmp*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}

func TestFilesRefusesPathsAsNames(t *testing.T) {
	f := Files{Dir: t.TempDir()}
	for _, name := range []string{"../escape", "a/b", "", "UPPER", "dot.dot"} {
		if err := f.Set(name, []byte("x")); err == nil {
			t.Errorf("Set(%q) = nil, want an error", name)
		}
	}
}

// TestKeyring runs the contract against the real OS keyring (Secret
// Service in CI: .ci/run starts gnome-keyring-daemon under
// dbus-run-session); without one it skips, and fails under
// GATEHOUSE_TEST_STRICT.
func TestKeyring(t *testing.T) {
	k := realKeyring(t)
	testStore(t, k)
	if got := Open(k.Service, t.TempDir()); got.Where() != k.Where() {
		t.Errorf("Open with a working keyring = %q, want the keyring", got.Where())
	}
	if want := "OS keyring (" + keyringName + ")"; k.Where() != want {
		t.Errorf("Where() = %q, want %q", k.Where(), want)
	}
}

// realKeyring is the OS keyring under a service name of this test's own.
func realKeyring(t *testing.T) Keyring {
	t.Helper()
	k := Keyring{Service: fmt.Sprintf("gatehouse-test-%d-%s", os.Getpid(), t.Name())}
	if err := k.Probe(); err != nil {
		testenv.SkipOrFail(t, "no OS keyring (start a Secret Service: see .ci/run): "+err.Error())
	}
	t.Cleanup(func() {
		k.Delete(tokensName)
		k.Delete("device-key")
	})
	return k
}

func TestFilesWhere(t *testing.T) {
	dir := t.TempDir()
	want := "0600 files under " + filepath.Join(dir, "secrets") + " (no OS keyring on this host)"
	if got := (Files{Dir: dir}).Where(); got != want {
		t.Errorf("Where() = %q, want %q", got, want)
	}
}

// TestFilesRefusesWhatOthersMayTouch: a secret file or its dir that
// others may read or write, that another user owns, or that is a link,
// is refused (and its secret never shows in the error).
func TestFilesRefusesWhatOthersMayTouch(t *testing.T) {
	const secret = "s3cret-do-not-print"
	tests := []struct {
		name    string
		spoil   func(t *testing.T, dir, file string)
		wantErr string
	}{
		{name: "file 0644", spoil: func(t *testing.T, _, file string) { chmod(t, file, 0o644) }, wantErr: "wider than 0600"},
		{name: "file 0640", spoil: func(t *testing.T, _, file string) { chmod(t, file, 0o640) }, wantErr: "wider than 0600"},
		{name: "file 0602", spoil: func(t *testing.T, _, file string) { chmod(t, file, 0o602) }, wantErr: "wider than 0600"},
		{name: "dir 0755", spoil: func(t *testing.T, dir, _ string) { chmod(t, dir, 0o755) }, wantErr: "wider than 0700"},
		{name: "other owner", spoil: func(t *testing.T, _, file string) { chown(t, file) }, wantErr: "owned by uid"},
		{name: "dir of other owner", spoil: func(t *testing.T, dir, _ string) { chown(t, dir) }, wantErr: "owned by uid"},
		{name: "symlink", spoil: func(t *testing.T, _, file string) {
			real := file + "-real"
			if err := os.Rename(file, real); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(real, file); err != nil {
				t.Fatal(err)
			}
		}, wantErr: "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Files{Dir: t.TempDir()}
			if err := f.Set("token", []byte(secret)); err != nil {
				t.Fatal(err)
			}
			tt.spoil(t, f.dir(), filepath.Join(f.dir(), "token"))
			got, err := f.Get("token")
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Get after %s = %q, %v; want an error containing %q", tt.name, got, err, tt.wantErr)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("Get's error %q shows the secret", err)
			}
		})
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// chown gives path to another user; only root can.
func chown(t *testing.T, path string) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "giving a file to another user needs root")
	}
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Fatal(err)
	}
}

// TestTokens: the session's tokens round-trip through both stores, and
// printing or logging them shows no token.
func TestTokens(t *testing.T) {
	now := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	tok := NewTokens("gha_access-SECRET", "ghr_refresh-SECRET", 600, now)
	tok.User, tok.Methods = "alice", []string{"pwd", "otp"}
	if due := tok.RefreshDue(); !due.Equal(now.Add(8 * time.Minute)) {
		t.Errorf("RefreshDue() = %v, want 8m (80%% of 10m) after issue", due.Sub(now))
	}
	stores := map[string]func(t *testing.T) Store{
		"files":   func(t *testing.T) Store { return Files{Dir: t.TempDir()} },
		"keyring": func(t *testing.T) Store { return realKeyring(t) },
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			if _, err := LoadTokens(s); !errors.Is(err, ErrNotFound) {
				t.Fatalf("LoadTokens(empty) = %v, want ErrNotFound", err)
			}
			if err := SaveTokens(s, tok); err != nil {
				t.Fatal(err)
			}
			got, err := LoadTokens(s)
			if err != nil || got.AccessToken != tok.AccessToken || got.RefreshToken != tok.RefreshToken ||
				!got.ExpiresAt.Equal(tok.ExpiresAt) || got.User != "alice" {
				t.Fatalf("LoadTokens() = %v, %v; want what was saved", got, err)
			}
			if err := ForgetTokens(s); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadTokens(s); !errors.Is(err, ErrNotFound) {
				t.Fatalf("LoadTokens after ForgetTokens = %v, want ErrNotFound", err)
			}
		})
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})).Info("tokens", "t", tok)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("tokens", "t", tok)
	fmt.Fprintf(&buf, "%v %+v %#v %s", tok, tok, tok, tok)
	if strings.Contains(buf.String(), "SECRET") {
		t.Errorf("printed or logged Tokens show a token: %s", buf.String())
	}
	if err := SaveTokens(Files{Dir: t.TempDir()}, Tokens{AccessToken: "x"}); err == nil {
		t.Error("SaveTokens without a refresh token = nil, want an error")
	}
}

func TestCorruptTokensSayWhatToDo(t *testing.T) {
	f := Files{Dir: t.TempDir()}
	if err := f.Set(tokensName, []byte(`{"access_token": "gha_SECRET", "refresh_token": 12}`)); err != nil {
		t.Fatal(err)
	}
	_, err := LoadTokens(f)
	if err == nil || !strings.Contains(err.Error(), "gatehouse login") || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("LoadTokens(corrupt) = %v, want an error naming the fix and no token", err)
	}
}
