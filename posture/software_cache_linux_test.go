package posture

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// TestSumCacheSeesAChangedFile: a file rewritten in place (same inode,
// same size) is hashed again, so the cache never vouches for old bytes.
func TestSumCacheSeesAChangedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "daemon")
	sumOf := func() string {
		t.Helper()
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		got, err := fileSums.of(f, fi)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	for _, content := range []string{"build one", "build two"} { // same length
		if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
		want := sha256.Sum256([]byte(content))
		for range 2 { // hashed, then from the cache
			if got := sumOf(); got != hex.EncodeToString(want[:]) {
				t.Fatalf("sum of %q = %s, want %x", content, got, want)
			}
		}
	}
}
