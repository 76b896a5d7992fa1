package localpeer

import (
	"strings"
	"testing"
)

func TestPipeSDDL(t *testing.T) {
	const alice, bob = "S-1-5-21-1004336348-1177238915-682003330-1001", "S-1-5-21-1004336348-1177238915-682003330-1002"
	tests := []struct {
		name            string
		user, server    string
		want            string
		wantErr         bool
		wantNotContains []string
	}{
		{name: "service as SYSTEM serving alice", user: alice, server: SIDSystem,
			want: "D:P(A;;GA;;;S-1-5-18)(A;;GA;;;S-1-5-32-544)(A;;0x12008b;;;" + alice + ")"},
		{name: "alice's own agent in the foreground", user: alice, server: alice,
			want: "D:P(A;;GA;;;S-1-5-18)(A;;GA;;;S-1-5-32-544)(A;;GA;;;" + alice + ")"},
		{name: "agent run by bob for alice", user: alice, server: bob,
			want: "D:P(A;;GA;;;S-1-5-18)(A;;GA;;;S-1-5-32-544)(A;;GA;;;" + bob + ")(A;;0x12008b;;;" + alice + ")"},
		{name: "no user (SYSTEM serves itself)", user: SIDSystem, server: SIDSystem,
			want: "D:P(A;;GA;;;S-1-5-18)(A;;GA;;;S-1-5-32-544)"},
		{name: "an ACE smuggled in the user", user: "S-1-5-21-1)(A;;GA;;;WD", server: SIDSystem, wantErr: true},
		{name: "an alias is no SID", user: "WD", server: SIDSystem, wantErr: true},
		{name: "a name is no SID", user: "alice", server: SIDSystem, wantErr: true},
		{name: "empty user", user: "", server: SIDSystem, wantErr: true},
		{name: "a bad server SID", user: alice, server: "S-1-5-18;", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PipeSDDL(tt.user, tt.server)
			if (err != nil) != tt.wantErr {
				t.Fatalf("PipeSDDL(%q, %q) = %q, %v, want error %v", tt.user, tt.server, got, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("PipeSDDL(%q, %q) = %q, want %q", tt.user, tt.server, got, tt.want)
			}
		})
	}
}

// TestPipeSDDLGrantsNoOneElse: no ACE for Everyone, Authenticated Users,
// Users, anonymous or network logons, nothing inherited, and the device's
// user cannot create pipe instances (FILE_APPEND_DATA, 0x4).
func TestPipeSDDLGrantsNoOneElse(t *testing.T) {
	const alice = "S-1-5-21-1-2-3-1001"
	got, err := PipeSDDL(alice, SIDSystem)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, "D:P(") {
		t.Errorf("PipeSDDL = %q, want a protected DACL (D:P)", got)
	}
	for _, alias := range []string{";WD)", ";AU)", ";BU)", ";AN)", ";NU)", "S-1-1-0", "S-1-5-11"} {
		if strings.Contains(got, alias) {
			t.Errorf("PipeSDDL = %q grants %s", got, alias)
		}
	}
	if PipeClientAccess&0x4 != 0 || PipeClientAccess&0x10000000 != 0 || PipeClientAccess&0x40000000 != 0 {
		t.Errorf("PipeClientAccess = %#x includes the right to create pipe instances", PipeClientAccess)
	}
	if n := strings.Count(got, "(A;"); n != 3 {
		t.Errorf("PipeSDDL = %q has %d allow entries, want 3 (SYSTEM, Administrators, the user)", got, n)
	}
}
