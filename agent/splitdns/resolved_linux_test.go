package splitdns

import (
	"os"
	"path/filepath"
	"testing"
)

// fakeProc makes a /proc-like tree: one dir per pid with comm and a
// ns/net symlink pointing at netns (readlink gives it back as is).
func fakeProc(t *testing.T, procs map[string][2]string) string {
	t.Helper()
	root := t.TempDir()
	for pid, p := range procs {
		dir := filepath.Join(root, pid)
		if err := os.MkdirAll(filepath.Join(dir, "ns"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "comm"), []byte(p[0]+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if p[1] != "" {
			if err := os.Symlink(p[1], filepath.Join(dir, "ns", "net")); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

func TestResolvedInNetns(t *testing.T) {
	const mine, host = "net:[4026532300]", "net:[4026531840]"
	tests := []struct {
		name  string
		procs map[string][2]string
		want  bool
	}{
		{name: "resolved in this namespace", procs: map[string][2]string{"1": {"init", host}, "77": {"systemd-resolve", mine}}, want: true},
		{name: "resolved in the host's namespace only", procs: map[string][2]string{"1": {"systemd", host}, "77": {"systemd-resolve", host}}},
		{name: "no resolved", procs: map[string][2]string{"1": {"systemd", mine}, "5": {"dnsmasq", mine}}},
		{name: "a name that only starts the same", procs: map[string][2]string{"9": {"systemd-resolv", mine}, "10": {"systemd-resolvex", mine}}},
		{name: "namespace unreadable", procs: map[string][2]string{"77": {"systemd-resolve", ""}}},
		{name: "not a pid dir", procs: map[string][2]string{"self": {"systemd-resolve", mine}}},
		{name: "one of two in this namespace", procs: map[string][2]string{"70": {"systemd-resolve", host}, "80": {"systemd-resolve", mine}}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resolvedInNetns(fakeProc(t, tt.procs), mine); got != tt.want {
				t.Errorf("resolvedInNetns(%v, %q) = %v, want %v", tt.procs, mine, got, tt.want)
			}
		})
	}
	if resolvedInNetns(filepath.Join(t.TempDir(), "missing"), mine) {
		t.Error("resolvedInNetns(missing dir) = true, want false")
	}
}
