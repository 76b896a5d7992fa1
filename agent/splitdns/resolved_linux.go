package splitdns

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// resolvedComm is systemd-resolved's process name as /proc/PID/comm
// holds it: the kernel truncates names to 15 bytes.
const resolvedComm = "systemd-resolve"

// ResolvedManagesDNS reports whether systemd-resolved can set per-link DNS
// for this process's links: a systemd-resolved process runs in this
// process's network namespace (it sees the same links: a link name or
// index from another namespace would name a different link there, or
// none), its runtime directory exists, and resolvectl answers. This holds
// for the host's resolved and the host's agent as for a container's or a
// test namespace's own resolved; an agent in a namespace where only the
// host's resolved runs gets the fallback.
func ResolvedManagesDNS(ctx context.Context) bool {
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil || !resolvedInNetns("/proc", self) {
		return false
	}
	if fi, err := os.Stat("/run/systemd/resolve"); err != nil || !fi.IsDir() {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = ExecRunner(ctx, resolvectlPath, "status", "--no-pager")
	return err == nil
}

// resolvedInNetns reports whether a process named systemd-resolved is in
// the network namespace netns (as readlink /proc/PID/ns/net shows it)
// among the processes under proc. Processes that end while it looks, or
// whose namespace it may not read, are skipped.
func resolvedInNetns(proc, netns string) bool {
	entries, err := os.ReadDir(proc)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if !isPID(e.Name()) {
			continue
		}
		comm, err := os.ReadFile(filepath.Join(proc, e.Name(), "comm"))
		if err != nil || strings.TrimSuffix(string(comm), "\n") != resolvedComm {
			continue
		}
		if ns, err := os.Readlink(filepath.Join(proc, e.Name(), "ns", "net")); err == nil && ns == netns {
			return true
		}
	}
	return false
}

func isPID(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// ExecRunner runs the command for real.
func ExecRunner(ctx context.Context, name string, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}
