package posture

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/internal/testenv"
)

// TestRequiredFiles checks real files: present, root-owned, not writable
// by others up the tree, with the asked SHA-256.
func TestRequiredFiles(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "needs root to make files owned by root and by another user")
	}
	dir := t.TempDir() // root-owned, 0700
	content := []byte("-----BEGIN CERTIFICATE-----\n")
	raw := sha256.Sum256(content)
	sum := hex.EncodeToString(raw[:])
	file := func(name string, mode os.FileMode, uid int) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, uid); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := file("ca.pem", 0o644, 0)
	users := file("users.pem", 0o644, 65534)
	writable := file("writable.pem", 0o666, 0)
	sub := filepath.Join(dir, "open")
	if err := os.Mkdir(sub, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sub, 0o777); err != nil {
		t.Fatal(err)
	}
	inOpenDir := filepath.Join(sub, "ca.pem")
	if err := os.WriteFile(inOpenDir, content, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		spec      string
		wantKnown bool
		want      bool
		wantWhy   string
	}{
		{spec: good, wantKnown: true, want: true, wantWhy: "root-owned"},
		{spec: good + ":" + sum, wantKnown: true, want: true, wantWhy: "sha256 matches"},
		{spec: good + ":" + strings.Repeat("0", 64), wantKnown: true, want: false, wantWhy: "has sha256 " + sum},
		{spec: users, wantKnown: true, want: false, wantWhy: "owned by uid 65534"},
		{spec: writable, wantKnown: true, want: false, wantWhy: "writable by group or others"},
		{spec: inOpenDir, wantKnown: true, want: false, wantWhy: sub + " is writable"},
		{spec: filepath.Join(dir, "missing.pem"), wantKnown: true, want: false, wantWhy: "no such file"},
		{spec: "ca.pem", wantWhy: "absolute path"},
	}
	for _, tt := range tests {
		got := requiredFiles([]string{tt.spec})[tt.spec]
		if got.Known != tt.wantKnown || got.Value != tt.want || !strings.Contains(got.Reason, tt.wantWhy) || got.Source != srcFiles {
			t.Errorf("requiredFiles(%q) = %+v, want known %v value %v with %q", tt.spec, got, tt.wantKnown, tt.want, tt.wantWhy)
		}
	}
	if got := requiredFiles(nil); got != nil {
		t.Errorf("requiredFiles(nil) = %v, want nil", got)
	}
}
