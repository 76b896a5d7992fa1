package posture

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// TestProcessNameLongerThanComm: a process whose name the kernel cuts to
// 15 bytes is still found by its whole name, and a name that only shares
// those 15 bytes is not.
func TestProcessNameLongerThanComm(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skipf("no sleep: %v", err)
	}
	bin, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	const long = "gatehouse-long-daemon-name"
	path := filepath.Join(t.TempDir(), long)
	if err := os.WriteFile(path, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	time.Sleep(50 * time.Millisecond)
	sibling := long[:commLen] + "-other"
	got := runningProcesses(context.Background(), []string{long, sibling})
	if want := api.KnownBool(true); got[long] != want {
		t.Errorf("runningProcesses()[%q] = %+v, want %+v", long, got[long], want)
	}
	if want := api.KnownBool(false); got[sibling] != want {
		t.Errorf("runningProcesses()[%q] = %+v, want %+v (same first 15 bytes only)", sibling, got[sibling], want)
	}
}
