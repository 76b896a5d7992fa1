package posture

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestRunCommand(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh to run")
	}
	tests := []struct {
		name       string
		path       string
		args       []string
		timeout    time.Duration
		wantStdout string
		wantErr    string // substring of failure(); "" means no error
	}{
		{"output", sh, []string{"-c", "echo on"}, 3 * time.Second, "on\n", ""},
		{"exit status and stderr", sh, []string{"-c", "echo needs root >&2; exit 3"}, 3 * time.Second, "", "exit status 3: needs root"},
		{"relative path refused", "sh", []string{"-c", "echo on"}, 3 * time.Second, "", "not an absolute path"},
		{"timeout", sh, []string{"-c", "sleep 5"}, 200 * time.Millisecond, "", "timed out after 200ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			got := runCommand(context.Background(), tt.timeout, nil, tt.path, tt.args...)
			if got.stdout != tt.wantStdout {
				t.Errorf("runCommand(%q).stdout = %q, want %q", tt.args, got.stdout, tt.wantStdout)
			}
			if (got.err != nil) != (tt.wantErr != "") || (tt.wantErr != "" && !strings.Contains(got.failure(), tt.wantErr)) {
				t.Errorf("runCommand(%q) failure = %v %q, want %q", tt.args, got.err, got.failure(), tt.wantErr)
			}
			if took := time.Since(start); took > tt.timeout+2*time.Second {
				t.Errorf("runCommand(%q) took %s, want at most timeout %s + 1 s wait delay", tt.args, took, tt.timeout)
			}
		})
	}
}
