package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTokenShower(t *testing.T) {
	const tok = "gha_secret-token"
	tests := []struct {
		name       string
		terminal   bool
		fileChosen bool
		wantFile   bool
	}{
		{name: "terminal: printed once, no file", terminal: true},
		{name: "pipe or journal: file, never printed", wantFile: true},
		{name: "terminal but a file asked for: file", terminal: true, fileChosen: true, wantFile: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "admin-token")
			var out bytes.Buffer
			s := tokenShower{out: &out, terminal: tt.terminal, file: file, fileChosen: tt.fileChosen}
			if err := s.show(tok); err != nil {
				t.Fatalf("show() = %v, want nil", err)
			}
			if printed := strings.Contains(out.String(), tok); printed == tt.wantFile {
				t.Errorf("show() printed %q, want the token printed %v", out.String(), !tt.wantFile)
			}
			b, err := os.ReadFile(file)
			if !tt.wantFile {
				if err == nil {
					t.Errorf("show() wrote %s, want no file", file)
				}
				return
			}
			if err != nil || strings.TrimSpace(string(b)) != tok {
				t.Fatalf("token file = %q, %v, want the token", b, err)
			}
			if info, _ := os.Stat(file); info.Mode().Perm() != 0o600 {
				t.Errorf("token file mode = %04o, want 0600", info.Mode().Perm())
			}
			if !strings.Contains(out.String(), "admin token written to "+file) {
				t.Errorf("show() printed %q, want it to say where the token is", out.String())
			}
		})
	}
}

func TestTokenShowerReplacesAnOldFilePrivately(t *testing.T) {
	file := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(file, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := tokenShower{out: &bytes.Buffer{}, file: file}
	if err := s.show("gha_new"); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(file)
	if b, _ := os.ReadFile(file); err != nil || string(b) != "gha_new\n" || info.Mode().Perm() != 0o600 {
		t.Errorf("token file after show = %q (mode %v, %v), want the new token, 0600", b, info.Mode().Perm(), err)
	}
}

func TestTokenShowerUnwritableFileSaysWhatToDo(t *testing.T) {
	s := tokenShower{out: &bytes.Buffer{}, file: filepath.Join(t.TempDir(), "missing-dir", "admin-token")}
	if err := s.show("gha_x"); err == nil || !strings.Contains(err.Error(), "--admin-token-file") {
		t.Errorf("show() into a missing dir = %v, want an error naming --admin-token-file", err)
	}
}
