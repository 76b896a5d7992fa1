package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteSecretFile(t *testing.T) {
	dir := t.TempDir()
	Must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// A fresh file and one that existed with a looser mode: both 0600.
	loose := filepath.Join(dir, "loose.conf")
	Must(os.WriteFile(loose, []byte("old"), 0o644))
	for _, p := range []string{filepath.Join(dir, "new.conf"), loose} {
		Must(writeSecretFile(p, []byte("secret")))
		fi, err := os.Stat(p)
		Must(err)
		if b, _ := os.ReadFile(p); fi.Mode().Perm() != 0o600 || string(b) != "secret" {
			t.Errorf("writeSecretFile(%q): mode %v, content %q; want 0600, %q", p, fi.Mode().Perm(), b, "secret")
		}
	}
	// Refused: over a symlink (its target untouched), into a
	// world-writable directory.
	target := filepath.Join(dir, "target")
	Must(os.WriteFile(target, []byte("keep"), 0o600))
	link := filepath.Join(dir, "link.conf")
	Must(os.Symlink(target, link))
	open := filepath.Join(dir, "open")
	Must(os.Mkdir(open, 0o700))
	Must(os.Chmod(open, 0o777))
	tests := []struct{ name, path, wantErr string }{
		{"symlink", link, "symlink"},
		{"world-writable dir", filepath.Join(open, "x.conf"), "anyone may write"},
		{"missing dir", filepath.Join(dir, "nope", "x.conf"), "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := writeSecretFile(tt.path, []byte("secret")); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("writeSecretFile(%q) = %v, want an error with %q", tt.path, err, tt.wantErr)
			}
		})
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Errorf("symlink target = %q after a refused write, want it untouched", b)
	}
	if _, err := os.Stat(filepath.Join(open, "x.conf")); err == nil {
		t.Error("a file was written into the world-writable dir")
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".gatehouse-wg-*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
