package sysservice

import (
	"os"
	"slices"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/internal/testenv"
)

func TestInstallingUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Setenv("SUDO_UID", "1000")
		if got := InstallingUser(); got != "" {
			t.Errorf("InstallingUser() not as root = %q, want \"\"", got)
		}
		testenv.SkipOrFail(t, "the sudo cases need root")
	}
	tests := []struct{ sudoUID, want string }{
		{"", ""},
		{"1000", "1000"},
		{"0", ""}, // sudo from root: no device user to take from it
		{"alice", ""},
		{"-5", ""},
	}
	for _, tt := range tests {
		t.Setenv("SUDO_UID", tt.sudoUID)
		if got := InstallingUser(); got != tt.want {
			t.Errorf("InstallingUser() with SUDO_UID=%q = %q, want %q", tt.sudoUID, got, tt.want)
		}
	}
}

func TestArguments(t *testing.T) {
	base := []string{"run", "--state-dir", StateDir, "--socket", localapi.ServiceSocket}
	tests := []struct {
		localUser string
		want      []string
	}{
		{"", base},
		{"alice", append(slices.Clone(base), "--local-user", "alice")},
	}
	for _, tt := range tests {
		if got := Arguments(Options{LocalUser: tt.localUser}); !slices.Equal(got, tt.want) {
			t.Errorf("Arguments(LocalUser %q) = %q, want %q", tt.localUser, got, tt.want)
		}
	}
}
