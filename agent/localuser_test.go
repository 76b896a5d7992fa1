package agent

import (
	"os"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/internal/testenv"
)

func TestLookupLocalUser(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int
		wantErr bool
	}{
		{name: "uid", in: "65534", want: 65534},
		{name: "name", in: "root", want: 0},
		{name: "unknown name", in: "no-such-user-gatehouse", wantErr: true},
		{name: "negative uid is no name either", in: "-1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := lookupLocalUser(tt.in)
			if (err != nil) != tt.wantErr || (!tt.wantErr && got.uid != tt.want) {
				t.Errorf("lookupLocalUser(%q) = %+v, %v, want uid %d (error %v)", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
	if got := localUserByUID(0); got.name != "root (uid 0)" {
		t.Errorf("localUserByUID(0) = %+v, want named root (uid 0)", got)
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
