package enrollflags

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func TestToken(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("  ghe_from_file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const where = "ask your admin"
	tests := []struct {
		name    string
		args    []string
		want    string
		wantErr string
	}{
		{name: "token flag", args: []string{"--controller", "https://c:8443", "--token", "ghe_flag"}, want: "ghe_flag"},
		{name: "token file, trimmed", args: []string{"--controller", "https://c:8443", "--token-file", tokenFile}, want: "ghe_from_file"},
		{name: "token file wins over the flag", args: []string{"--controller", "https://c:8443", "--token", "ghe_flag", "--token-file", tokenFile},
			want: "ghe_from_file"},
		{name: "no controller", args: []string{"--token", "ghe_flag"},
			wantErr: "both --controller and --token (or --token-file) are needed; ask your admin"},
		{name: "no token", args: []string{"--controller", "https://c:8443"},
			wantErr: "both --controller and --token (or --token-file) are needed; ask your admin"},
		{name: "empty token file", args: []string{"--controller", "https://c:8443", "--token-file", empty},
			wantErr: "are needed; ask your admin"},
		{name: "missing token file", args: []string{"--controller", "https://c:8443", "--token-file", filepath.Join(dir, "nope")},
			wantErr: "read --token-file: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := &cobra.Command{}
			f := Add(cmd, "enrollment token")
			if err := cmd.ParseFlags(tt.args); err != nil {
				t.Fatal(err)
			}
			got, err := f.Token(where)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Token(%q) with %q = %q, %v, want an error containing %q", where, tt.args, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Token(%q) with %q = %q, %v, want %q", where, tt.args, got, err, tt.want)
			}
		})
	}
}

func TestCAPEM(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		want    string
		wantErr string
	}{
		{name: "given", args: []string{"--ca", ca}, want: "PEM"},
		{name: "not given: the system roots", args: nil, want: ""},
		{name: "missing", args: []string{"--ca", ca + ".nope"}, wantErr: "read --ca: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := &cobra.Command{}
			f := Add(cmd, "gateway token")
			if err := cmd.ParseFlags(tt.args); err != nil {
				t.Fatal(err)
			}
			got, err := f.CAPEM()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("CAPEM() with %q = %q, %v, want an error containing %q", tt.args, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || string(got) != tt.want || (tt.want == "") != (got == nil) {
				t.Fatalf("CAPEM() with %q = %q, %v, want %q", tt.args, got, err, tt.want)
			}
		})
	}
}

// TestAddController: a sign-in's flags take no token.
func TestAddController(t *testing.T) {
	cmd := &cobra.Command{}
	f := AddController(cmd)
	if cmd.Flags().Lookup("token") != nil || cmd.Flags().Lookup("token-file") != nil {
		t.Error("AddController registered a token flag")
	}
	if err := f.NeedController("run with --controller URL"); err == nil || !strings.Contains(err.Error(), "run with --controller URL") {
		t.Errorf("NeedController() without --controller = %v, want an error ending with where", err)
	}
	if err := cmd.ParseFlags([]string{"--controller", "https://c:8443", "--ca", "ca.pem"}); err != nil {
		t.Fatal(err)
	}
	if err := f.NeedController("x"); err != nil || f.Controller != "https://c:8443" || f.CAFile != "ca.pem" {
		t.Errorf("after parsing: %+v, %v; want the controller and CA", f, err)
	}
}
