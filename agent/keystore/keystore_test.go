package keystore

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/zalando/go-keyring"
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

func TestKeyring(t *testing.T) {
	keyring.MockInit() // an in-memory keyring: the real one needs a desktop session
	k := Keyring{Service: "gatehouse-test"}
	testStore(t, k)
	if got := Open("gatehouse-test", t.TempDir()); got.Where() != k.Where() {
		t.Errorf("Open with a working keyring = %q, want the keyring", got.Where())
	}
}
