package posture

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// copySleep copies /bin/sleep to path with mode and owner uid.
func copySleep(t *testing.T, path string, uid int) {
	t.Helper()
	src, err := os.Open("/bin/sleep")
	if err != nil {
		t.Skipf("needs /bin/sleep: %v", err)
	}
	defer src.Close()
	dst, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, uid, uid); err != nil {
		t.Fatal(err)
	}
}

// startProcess runs path (as uid via setpriv when uid is not 0) until the
// test ends, and waits until it has exec'd.
func startProcess(t *testing.T, path string, uid int) {
	t.Helper()
	var cmd *exec.Cmd
	if uid == 0 {
		cmd = exec.Command(path, "300")
	} else {
		cmd = exec.Command("setpriv", "--reuid="+itoa(uid), "--regid="+itoa(uid), "--clear-groups", path, "300")
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	want, _ := os.Stat(path)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if fi, err := os.Stat("/proc/" + itoa(cmd.Process.Pid) + "/exe"); err == nil && os.SameFile(fi, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start within 5 s", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestRunningSoftware runs real processes: a root-owned executable at the
// configured path satisfies the check; a copy of /bin/sleep owned by
// nobody and named like the required daemon does not, whoever runs it.
func TestRunningSoftware(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to own the required executable and read every /proc/PID/exe")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skipf("needs setpriv: %v", err)
	}
	const nobody = 65534
	const daemon = "gh-required-daemon"
	rootDir := t.TempDir() // root-owned
	required := filepath.Join(rootDir, daemon)
	copySleep(t, required, 0)

	fakeDir, err := os.MkdirTemp("", "gh-fake-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(fakeDir) })
	if err := os.Chmod(fakeDir, 0o755); err != nil {
		t.Fatal(err)
	}
	fake := filepath.Join(fakeDir, daemon)
	copySleep(t, fake, nobody)

	b, err := os.ReadFile(required)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	goodSum := hex.EncodeToString(sum[:])
	badSum := strings.Repeat("0", 64)
	ctx := context.Background()

	// Only the fake runs, as nobody, under the required daemon's name.
	startProcess(t, fake, nobody)
	tests := []struct {
		name    string
		spec    string
		want    api.BoolFact
		wantWhy string
	}{
		{name: "only a fake of the same name runs", spec: required, want: api.KnownBool(false), wantWhy: "no running process executes"},
		{name: "the fake's own path: not root-owned", spec: fake, want: api.KnownBool(false), wantWhy: "owned by uid 65534"},
	}
	for _, tt := range tests {
		got := runningSoftware(ctx, []string{tt.spec})[tt.spec]
		if got.Fact != tt.want || !strings.Contains(got.Reason, tt.wantWhy) {
			t.Errorf("%s: runningSoftware(%q) = %+v, want %+v with %q", tt.name, tt.spec, got, tt.want, tt.wantWhy)
		}
	}

	// The same situation fools a check by name: that is what path specs fix.
	if got := runningProcesses(ctx, []string{daemon})[daemon]; got != api.KnownBool(true) {
		t.Errorf("runningProcesses(%q) = %+v, want the fake to pass a name check (known true)", daemon, got)
	}

	// The real one starts.
	startProcess(t, required, 0)
	tests = []struct {
		name    string
		spec    string
		want    api.BoolFact
		wantWhy string
	}{
		{name: "root-owned at the path", spec: required, want: api.KnownBool(true), wantWhy: "runs " + required},
		{name: "with its sha256", spec: required + ":" + goodSum, want: api.KnownBool(true), wantWhy: "runs " + required},
		{name: "wrong sha256", spec: required + ":" + badSum, want: api.KnownBool(false), wantWhy: "has sha256 " + goodSum},
		{name: "the fake still is not enough", spec: fake, want: api.KnownBool(false), wantWhy: "owned by uid 65534"},
	}
	for _, tt := range tests {
		got := runningSoftware(ctx, []string{tt.spec})[tt.spec]
		if got.Fact != tt.want || !strings.Contains(got.Reason, tt.wantWhy) {
			t.Errorf("%s: runningSoftware(%q) = %+v, want %+v with %q", tt.name, tt.spec, got, tt.want, tt.wantWhy)
		}
	}

	// A directory others can write to makes the file replaceable.
	if err := os.Chmod(rootDir, 0o777); err != nil {
		t.Fatal(err)
	}
	got := runningSoftware(ctx, []string{required})[required]
	if got.Fact != api.KnownBool(false) || !strings.Contains(got.Reason, "writable by group or others") {
		t.Errorf("world-writable dir: runningSoftware(%q) = %+v, want known false, writable", required, got)
	}
}

// TestCollectRequiredSoftware goes through System.Collect: a path spec is
// checked by executable and its reason reaches the report's notes.
func TestCollectRequiredSoftware(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to read every /proc/PID/exe")
	}
	spec := "/nonexistent/gh-required-daemon"
	r := NewSystem("test").Collect(context.Background(), api.PostureQuery{Processes: []string{spec}})
	got := r.Processes[spec]
	if !got.Known || got.Value {
		t.Errorf("Collect().Processes[%q] = %+v, want known false", spec, got)
	}
	if !strings.Contains(got.Reason, "no such file") {
		t.Errorf("Collect().Processes[%q].Reason = %q, want the missing file named", spec, got.Reason)
	}
}

// TestRequiredSoftwareRunByAUser: the very root-owned executable a
// profile requires, started by an unprivileged user, does not satisfy the
// requirement (anyone may run /usr/sbin/daemon; only a root service
// counts); run as root, it does.
func TestRequiredSoftwareRunByAUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to own the required executable and start it as another user")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skipf("needs setpriv: %v", err)
	}
	const nobody = 65534
	dir, err := os.MkdirTemp("", "gh-root-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // root's, but others may run what is in it
		t.Fatal(err)
	}
	required := filepath.Join(dir, "gh-edr-daemon")
	copySleep(t, required, 0)
	ctx := context.Background()

	startProcess(t, required, nobody)
	got := runningSoftware(ctx, []string{required})[required]
	if got.Fact != api.KnownBool(false) || !strings.Contains(got.Reason, "not as root") {
		t.Errorf("runningSoftware(%q) while only nobody runs it = %+v, want known false, not as root", required, got)
	}
	startProcess(t, required, 0)
	got = runningSoftware(ctx, []string{required})[required]
	if got.Fact != api.KnownBool(true) || !strings.Contains(got.Reason, "as root") {
		t.Errorf("runningSoftware(%q) once root runs it = %+v, want known true", required, got)
	}
}
