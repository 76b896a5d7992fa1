package agent

import (
	"os"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/internal/testenv"
)

func TestResolveLocalUser(t *testing.T) {
	recorded := 1234
	tests := []struct {
		name     string
		flag     string
		recorded *int
		want     int
		wantErr  bool
	}{
		{name: "nothing: the user running the agent", want: os.Getuid()},
		{name: "recorded at enrollment", recorded: &recorded, want: 1234},
		{name: "flag uid beats recorded", flag: "65534", recorded: &recorded, want: 65534},
		{name: "flag name", flag: "root", want: 0},
		{name: "unknown name", flag: "no-such-user-gatehouse", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolveLocalUser(tt.flag, tt.recorded)
			if (err != nil) != tt.wantErr || (!tt.wantErr && got.uid != tt.want) {
				t.Errorf("resolveLocalUser(%q, %v) = %+v, %v, want uid %d (error %v)", tt.flag, tt.recorded, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestEnrollingUID(t *testing.T) {
	if os.Getuid() != 0 {
		if got := EnrollingUID(); got != os.Getuid() {
			t.Errorf("EnrollingUID() = %d, want %d", got, os.Getuid())
		}
		testenv.SkipOrFail(t, "the sudo cases need root")
	}
	tests := []struct {
		name, sudoUID string
		want          int
	}{
		{"root, not through sudo", "", 0},
		{"through sudo", "1000", 1000},
		{"garbage SUDO_UID", "alice", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("SUDO_UID", tt.sudoUID)
			if got := EnrollingUID(); got != tt.want {
				t.Errorf("EnrollingUID() with SUDO_UID=%q = %d, want %d", tt.sudoUID, got, tt.want)
			}
		})
	}
}
