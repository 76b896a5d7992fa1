package posture

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/internal/testenv"
)

// TestLinuxCollectorsMatchOS collects for real on this machine and holds
// each fact against what the OS itself says: os-release sourced by the
// shell, uname -r, hostname, lsblk's block device tree, dbus-uuidgen's
// machine ID, and the SecureBoot EFI variable read by od. (The firewall's
// comparison with nft list ruleset is TestFirewallInNetns.)
func TestLinuxCollectorsMatchOS(t *testing.T) {
	r := NewSystem("1.2.3").Collect(context.Background(), api.PostureQuery{})
	b, _ := json.MarshalIndent(r, "", "  ")
	t.Logf("report on this machine:\n%s", b)

	rel := osSays(t, "sh", "-c", `. /etc/os-release 2>/dev/null || . /usr/lib/os-release; printf '%s\n%s' "$ID" "$VERSION_ID"`)
	id, version, _ := strings.Cut(rel, "\n")
	if r.OSName != api.KnownString(id) {
		t.Errorf("OSName = %+v, want %q (ID in os-release)", r.OSName, id)
	}
	if version != "" && r.OSVersion != api.KnownString(version) {
		t.Errorf("OSVersion = %+v, want %q (VERSION_ID in os-release)", r.OSVersion, version)
	}
	if want := osSays(t, "uname", "-r"); r.Kernel.Value != want || !r.Kernel.Known {
		t.Errorf("Kernel = %+v, want %q (uname -r)", r.Kernel, want)
	}
	if want := osSays(t, "hostname"); r.Hostname.Value != want || !r.Hostname.Known {
		t.Errorf("Hostname = %+v, want %q (hostname)", r.Hostname, want)
	}

	// Disk encryption: the device mounted at / and its ancestors in
	// lsblk's tree; a crypt among them is dm-crypt. No block device at /
	// (an overlay, a container) is unknown.
	var tree lsblkTree
	if err := json.Unmarshal([]byte(osSays(t, "lsblk", "-J", "-o", "NAME,TYPE,MOUNTPOINT")), &tree); err != nil {
		t.Fatalf("lsblk -J: %v", err)
	}
	onBlock, crypt := tree.root()
	switch {
	case !onBlock && r.DiskEncryption.Known:
		t.Errorf("DiskEncryption = %+v, want unknown: lsblk shows no block device mounted at /", r.DiskEncryption)
	case onBlock && (!r.DiskEncryption.Known || r.DiskEncryption.Value != crypt):
		t.Errorf("DiskEncryption = %+v, want known %v (lsblk: crypt under / is %v)", r.DiskEncryption, crypt, crypt)
	}

	if want := osSays(t, "dbus-uuidgen", "--get"); r.MachineID != knownStringFrom(want, machineIDPath) {
		t.Errorf("MachineID = %+v, want %q (dbus-uuidgen --get)", r.MachineID, want)
	}

	// Secure boot: what od reads from the EFI variable; no EFI directory
	// beside other firmware entries is a legacy boot.
	ents, _ := os.ReadDir("/sys/firmware")
	_, efiErr := os.Stat("/sys/firmware/efi")
	switch {
	case len(ents) == 0:
		if r.SecureBoot.Known {
			t.Errorf("SecureBoot = %+v, want unknown: /sys/firmware is hidden", r.SecureBoot)
		}
	case efiErr != nil:
		if !r.SecureBoot.Known || r.SecureBoot.Value {
			t.Errorf("SecureBoot = %+v, want known false: no /sys/firmware/efi (legacy boot)", r.SecureBoot)
		}
	default:
		v := "/sys/firmware/efi/efivars/" + secureBootVar
		if _, err := os.Stat(v); err != nil {
			t.Skipf("no %s to compare with: %v", v, err)
		}
		want := osSays(t, "od", "-An", "-tu1", "-j4", "-N1", v) == "1"
		if !r.SecureBoot.Known || r.SecureBoot.Value != want {
			t.Errorf("SecureBoot = %+v, want known %v (od of %s)", r.SecureBoot, want, v)
		}
	}

	// Screen lock: with no graphical session in logind's records the fact
	// is unknown, and says so.
	if sessions, err := graphicalSessions(logindSessionsDir); err == nil && len(sessions) == 0 {
		if r.ScreenLock.Known || r.ScreenLock.Reason != "no desktop session" {
			t.Errorf("ScreenLock = %+v, want unknown: no desktop session", r.ScreenLock)
		}
	}
	for name, f := range map[string]api.BoolFact{"secure_boot": r.SecureBoot, "screen_lock": r.ScreenLock, "auto_updates": r.AutoUpdates} {
		if f.Source == "" || (!f.Known && f.Reason == "") {
			t.Errorf("%s = %+v, want a source, and a reason when unknown", name, f)
		}
	}
	if r.DaysSinceUpdate.Source == "" || (!r.DaysSinceUpdate.Known && r.DaysSinceUpdate.Reason == "") {
		t.Errorf("DaysSinceUpdate = %+v, want a source, and a reason when unknown", r.DaysSinceUpdate)
	}
}

// lsblkTree is `lsblk -J -o NAME,TYPE,MOUNTPOINT`.
type lsblkTree struct {
	Blockdevices []lsblkDev `json:"blockdevices"`
}

type lsblkDev struct {
	Name       string     `json:"name"`
	Type       string     `json:"type"`
	Mountpoint *string    `json:"mountpoint"`
	Children   []lsblkDev `json:"children"`
}

// root says whether a block device is mounted at / and whether a crypt
// device is on its path from the disk.
func (t lsblkTree) root() (found, crypt bool) {
	var walk func(d lsblkDev, crypt bool) (bool, bool)
	walk = func(d lsblkDev, crypt bool) (bool, bool) {
		crypt = crypt || d.Type == "crypt"
		if d.Mountpoint != nil && *d.Mountpoint == "/" {
			return true, crypt
		}
		for _, c := range d.Children {
			if ok, cr := walk(c, crypt); ok {
				return true, cr
			}
		}
		return false, false
	}
	for _, d := range t.Blockdevices {
		if ok, cr := walk(d, false); ok {
			return true, cr
		}
	}
	return false, false
}

// osSays runs a system tool for the comparison tests; a missing tool
// skips the test (fails it in CI).
func osSays(t *testing.T, name string, args ...string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		testenv.SkipOrFail(t, fmt.Sprintf("needs %s: %v", name, err))
	}
	out, err := exec.Command(path, args...).Output()
	if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return strings.TrimSpace(string(out))
}

// TestCollectForbiddenAndFiles goes through System.Collect: the report
// holds exactly the asked forbidden software and files.
func TestCollectForbiddenAndFiles(t *testing.T) {
	q := api.PostureQuery{
		Forbidden: []string{"/nonexistent/gh-forbidden-tool"},
		Files:     []string{"/etc/os-release", "/nonexistent/gh-file"},
	}
	r := NewSystem("test").Collect(context.Background(), q)
	if len(r.Forbidden) != 1 || len(r.Files) != 2 {
		t.Fatalf("Collect() forbidden %v, files %v, want exactly %v and %v", r.Forbidden, r.Files, q.Forbidden, q.Files)
	}
	if f := r.Forbidden[q.Forbidden[0]]; f.Value || f.Source != srcForbidden {
		t.Errorf("Collect().Forbidden[%q] = %+v, want not running (or unknown), from %s", q.Forbidden[0], f, srcForbidden)
	}
	if f := r.Files["/nonexistent/gh-file"]; !f.Known || f.Value {
		t.Errorf("Collect().Files[missing] = %+v, want known false", f)
	}
	if r := NewSystem("test").Collect(context.Background(), api.PostureQuery{}); r.Forbidden != nil || r.Files != nil {
		t.Errorf("Collect(nothing asked) forbidden %v, files %v, want nil", r.Forbidden, r.Files)
	}
}
