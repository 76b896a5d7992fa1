package controller

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestValidHostname(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"laptop", true},
		{"a.b-c_d", true},
		{strings.Repeat("x", 253), true},
		{"", false},
		{strings.Repeat("x", 254), false},
		{"a b", false},
		{"a\x1b[31m", false},
		{"é", false},
		{"a/b", false},
	}
	for _, tt := range tests {
		if got := validHostname(tt.in) == nil; got != tt.want {
			t.Errorf("validHostname(%q) = %v, want ok %v", tt.in, validHostname(tt.in), tt.want)
		}
	}
}

func TestClip(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "short", in: "hello", want: "hello"},
		{name: "exactly the limit", in: strings.Repeat("a", logMax), want: strings.Repeat("a", logMax)},
		{name: "one over", in: strings.Repeat("a", logMax+1), want: strings.Repeat("a", logMax) + "…(129 bytes)"},
		{name: "cut inside a rune backs off", in: strings.Repeat("a", logMax-1) + "é" + "zz", want: strings.Repeat("a", logMax-1) + "…(131 bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Clip(tt.in); got != tt.want {
				t.Errorf("Clip(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestStartTightensAnExistingDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	c, err := New(context.Background(), Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	// As an older controller, a restored backup or a loose umask leaves it.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.Chmod(filepath.Join(dir, e.Name()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	c, err = New(context.Background(), Config{DataDir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	c.Close() // nothing logs once it returns
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode after start = %v, %v, want 0700", info.Mode().Perm(), err)
	}
	for _, e := range entries {
		info, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != 0o600 {
			t.Errorf("%s mode after start = %04o, want 0600", e.Name(), got)
		}
	}
	if !slices.ContainsFunc(entries, func(e os.DirEntry) bool { return e.Name() == "gatehouse.db" }) {
		t.Errorf("data dir holds %v, want gatehouse.db among them", entries)
	}
	if !strings.Contains(logs.String(), "made a data dir entry private") {
		t.Errorf("log does not say what was tightened:\n%s", logs.String())
	}
}
