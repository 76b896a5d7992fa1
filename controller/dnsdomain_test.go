package controller

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNewRefusesBadDNSDomain: a domain agents could not use is refused at
// start, before anything is created.
func TestNewRefusesBadDNSDomain(t *testing.T) {
	for _, d := range []string{"Corp Gatehouse", "corp..gatehouse", "local"} {
		dir := filepath.Join(t.TempDir(), "data")
		c, err := New(context.Background(), Config{DataDir: dir, DNSDomain: d})
		if err == nil {
			c.Close()
			t.Fatalf("New(DNSDomain %q) = nil error, want a refusal", d)
		}
		if !strings.Contains(err.Error(), "--dns-domain") {
			t.Errorf("New(DNSDomain %q) = %v, want an error naming --dns-domain", d, err)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("New(DNSDomain %q) created %s, want nothing created", d, dir)
		}
	}
}
