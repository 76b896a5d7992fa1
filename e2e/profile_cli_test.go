package e2e

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
)

// TestAdminCLIProfileChecks: `gatehouse admin profiles create` takes a
// flag for every typed check and the condition, the list shows them,
// `update` changes only the fields whose flags are given, and a bad value
// is refused with the flag named, changing nothing.
func TestAdminCLIProfileChecks(t *testing.T) {
	env := New(t, Options{})
	sum := strings.Repeat("0a", 32)
	env.admin(t, false, "profiles", "create", "strict", "--min-os", "ubuntu=22.04,darwin=14.2", "--screen-lock", "--secure-boot",
		"--auto-updates", "--max-days-since-update", "30", "--min-agent-version", "1.4", "--forbid", "/usr/bin/anydesk",
		"--forbid", "teamviewer", "--require-file", "/etc/corp/ca.pem:"+sum, "--sip", "--gatekeeper", "--antivirus", "--domain-joined",
		"--condition", "'corp' in device.tags", "--disk-encryption")
	want := api.PostureProfile{Name: "strict", DiskEncryption: true,
		MinOSVersions: map[string]string{"ubuntu": "22.04", "darwin": "14.2"}, ScreenLock: true, SecureBoot: true, AutoUpdates: true,
		MaxDaysSinceUpdate: 30, MinAgentVersion: "1.4", ForbiddenSoftware: []string{"/usr/bin/anydesk", "teamviewer"},
		RequiredFiles: []string{"/etc/corp/ca.pem:" + sum}, SIP: true, Gatekeeper: true, Antivirus: true, DomainJoined: true,
		Condition: "'corp' in device.tags"}
	got, err := adminclient.Get[api.PostureProfile](context.Background(), env.Admin, api.PathPostureProfiles, "strict")
	Must(t, err)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("profile after create = %+v, want %+v", got, want)
	}
	list := env.admin(t, false, "profiles", "list")
	for _, w := range []string{"os darwin>=14.2 ubuntu>=22.04", "screen-lock", "forbid /usr/bin/anydesk", "updated<=30d", "condition 'corp' in device.tags"} {
		if !strings.Contains(list, w) {
			t.Errorf("gatehouse admin profiles list = %q, want it to show %q", list, w)
		}
	}

	env.admin(t, false, "profiles", "update", "strict", "--screen-lock=false", "--forbid", "", "--min-os", "windows=10.0.22631")
	want.ScreenLock, want.ForbiddenSoftware, want.MinOSVersions = false, nil, map[string]string{"windows": "10.0.22631"}
	got, err = adminclient.Get[api.PostureProfile](context.Background(), env.Admin, api.PathPostureProfiles, "strict")
	Must(t, err)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("profile after update = %+v, want %+v", got, want)
	}

	for _, bad := range [][]string{
		{"--min-os", "ubunto=22.04"}, {"--max-days-since-update", "-3"}, {"--require-file", "etc/ca.pem"}, {"--forbid", "/usr/bin/nc:123"},
		{"--condition", "device.colour == 'red'"},
	} {
		out := env.admin(t, true, append([]string{"profiles", "update", "strict"}, bad...)...)
		if !strings.Contains(out, bad[0]) {
			t.Errorf("gatehouse admin profiles update strict %q = %q, want the flag named", bad, out)
		}
	}
	after, err := adminclient.Get[api.PostureProfile](context.Background(), env.Admin, api.PathPostureProfiles, "strict")
	Must(t, err)
	if !reflect.DeepEqual(after, want) {
		t.Errorf("profile after refused updates = %+v, want unchanged %+v", after, want)
	}
}
