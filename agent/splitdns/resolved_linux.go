package splitdns

import (
	"context"
	"os"
	"os/exec"
	"time"
)

// ResolvedManagesDNS reports whether systemd-resolved runs and can set
// per-link DNS for this process's links: its runtime directory exists,
// resolvectl answers, and this process shares the network namespace of
// PID 1 (where resolved runs; a link index from another namespace would
// name a different link there).
func ResolvedManagesDNS(ctx context.Context) bool {
	if fi, err := os.Stat("/run/systemd/resolve"); err != nil || !fi.IsDir() {
		return false
	}
	if self, err := os.Readlink("/proc/self/ns/net"); err == nil {
		if init, err := os.Readlink("/proc/1/ns/net"); err == nil && init != self {
			return false
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := ExecRunner(ctx, resolvectlPath, "status", "--no-pager")
	return err == nil
}

// ExecRunner runs the command for real.
func ExecRunner(ctx context.Context, name string, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}
