package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/internal/testenv"
)

// resolvedCache is where .ci/run unpacks systemd-resolved's package
// (apt-get download; dpkg -x) without installing it: installed, it would
// take over the host's /etc/resolv.conf.
const resolvedCache = "/var/cache/gatehouse-ci/systemd-resolved"

// resolvedUser is the account systemd-resolved drops to; it refuses to
// start without it. The test's mount namespace adds it to copies of
// /etc/passwd and /etc/group.
const resolvedUser = "systemd-resolve:x:4353:4353::/run/systemd/resolve:/usr/sbin/nologin"

// resolvedBusConf is a private system bus for resolved, resolvectl and
// the agent: anyone may own names and call methods (the test namespace's
// own bus, nothing else is on it).
const resolvedBusConf = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`

// resolvedHost is a laptop namespace with a real systemd-resolved of its
// own: a mount namespace (held by a sleeping process) in which /run/systemd
// is a fresh tmpfs, /etc/resolv.conf names resolved's stub 127.0.0.53,
// the resolved account exists, /usr/bin/resolvectl is there (an overlay
// adds the cached one), and a private system bus carries resolved's API.
type resolvedHost struct {
	holder  *proc
	busAddr string
}

// resolvedBinaries finds systemd-resolved and resolvectl: installed, or
// unpacked by .ci/run; missing, the test skips (fails in CI).
func resolvedBinaries(t testing.TB) (root string) {
	t.Helper()
	for _, root := range []string{"/", resolvedCache} {
		if isExec(filepath.Join(root, "lib/systemd/systemd-resolved")) && isExec(filepath.Join(root, "usr/bin/resolvectl")) {
			return root
		}
	}
	testenv.SkipOrFail(t, "systemd-resolved is missing: unpack it without installing it (installing takes over this host's DNS), as .ci/run does: "+
		"mkdir -p "+resolvedCache+" && cd "+resolvedCache+" && apt-get download systemd-resolved && dpkg -x systemd-resolved_*.deb .")
	return ""
}

func isExec(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// startResolved makes laptop's resolved host and starts its bus and
// resolved; every process is stopped when the test ends.
func startResolved(t testing.TB, laptop string) *resolvedHost {
	t.Helper()
	root := resolvedBinaries(t)
	for _, tool := range []string{"dbus-daemon", "unshare", "nsenter", "getent"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.SkipOrFail(t, fmt.Sprintf("%s is missing (Debian: dbus-daemon, util-linux, libc-bin)", tool))
		}
	}
	dir := worldReadableTempDir(t, "gh-resolved") // resolved's own account reaches the bus socket
	write := func(name, content string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		Must(t, os.WriteFile(path, []byte(content), 0o644))
		return path
	}
	withLine := func(file, line string) string {
		t.Helper()
		b, err := os.ReadFile(file)
		Must(t, err)
		return write(filepath.Base(file), strings.TrimRight(string(b), "\n")+"\n"+line+"\n")
	}
	socket := filepath.Join(dir, "system_bus_socket")
	h := &resolvedHost{busAddr: "unix:path=" + socket}
	mounts := []string{
		"mount --bind " + withLine("/etc/passwd", resolvedUser) + " /etc/passwd",
		"mount --bind " + withLine("/etc/group", "systemd-resolve:x:4353:") + " /etc/group",
		"mount --bind " + write("resolv.conf", "nameserver 127.0.0.53\noptions timeout:2 attempts:1\n") + " /etc/resolv.conf",
		// resolved makes /run/systemd/resolve itself, owned by its account.
		// A host without /run/systemd (no systemd at all) gets a fresh /run
		// in this namespace rather than a new dir in its own.
		"if [ -d /run/systemd ]; then mount -t tmpfs tmpfs /run/systemd; else mount -t tmpfs tmpfs /run; mkdir /run/systemd; fi",
	}
	if root != "/" {
		// The agent calls /usr/bin/resolvectl by its absolute path: a
		// read-only overlay adds it to /usr/bin in this namespace only.
		mounts = append(mounts, "mount -t overlay overlay -o lowerdir="+filepath.Join(root, "usr/bin")+":/usr/bin /usr/bin")
	}
	script := "set -e; " + strings.Join(mounts, "; ") + "; echo ready; exec sleep 600"
	h.holder = startProc(t, nil, netnsExec(laptop, "unshare", "--mount", "--propagation", "private", "sh", "-c", script)...)
	h.holder.awaitLine(t, "ready", 10*time.Second)
	// dbus-daemon runs inside the mount namespace too: it must know
	// resolved's account to let it in.
	busConf := write("bus.conf", fmt.Sprintf(resolvedBusConf, socket))
	bus := startProc(t, nil, h.in("dbus-daemon", "--config-file="+busConf, "--nofork", "--nopidfile")...)
	Eventually(t, 10*time.Second, func() error {
		select {
		case <-bus.done:
			t.Fatalf("dbus-daemon exited: %v\n%s", bus.cmd.ProcessState, bus.stderr)
		default:
		}
		_, err := os.Stat(socket)
		return err
	})
	resolved := startProc(t, []string{"DBUS_SYSTEM_BUS_ADDRESS=" + h.busAddr},
		h.in(filepath.Join(root, "lib/systemd/systemd-resolved"))...)
	Eventually(t, 10*time.Second, func() error {
		select {
		case <-resolved.done:
			t.Fatalf("systemd-resolved exited: %v\n%s", resolved.cmd.ProcessState, resolved.stderr)
		default:
		}
		_, err := h.run("resolvectl", "status", "--no-pager")
		return err
	})
	return h
}

// in is argv run in the resolved host's namespaces, with its bus.
func (h *resolvedHost) in(argv ...string) []string {
	return nsenterArgv(h.holder.cmd.Process.Pid, append([]string{"env", "DBUS_SYSTEM_BUS_ADDRESS=" + h.busAddr}, argv...)...)
}

// run runs argv in the resolved host and returns its combined output.
func (h *resolvedHost) run(argv ...string) (string, error) {
	return runIn(h.holder.cmd.Process.Pid, h.busAddr, argv...)
}

// nsenterArgv is argv in the mount and network namespaces of pid.
func nsenterArgv(pid int, argv ...string) []string {
	return append([]string{"nsenter", "-t", strconv.Itoa(pid), "-m", "-n", "--"}, argv...)
}

// runIn runs argv in pid's mount and network namespaces with the bus at
// busAddr (at most 10 s) and returns its combined output.
func runIn(pid int, busAddr string, argv ...string) (string, error) {
	cmd := exec.Command(nsenterArgv(pid, argv...)[0], nsenterArgv(pid, argv...)[1:]...)
	cmd.Env = append(cleanEnv(), "DBUS_SYSTEM_BUS_ADDRESS="+busAddr, "SYSTEMD_PAGER=")
	cmd.WaitDelay = time.Second
	timer := time.AfterFunc(10*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestSplitDNSThroughSystemdResolved: the agent in TUN mode on a laptop
// namespace where a real systemd-resolved runs (with its own bus and
// stub). The agent finds resolved in its namespace and registers its
// resolver as gh0's DNS server for ~corp.gatehouse only; programs asking
// libc (through resolved's stub at 127.0.0.53) get the app's virtual IP
// for grafana.corp.gatehouse and the device's user reaches the app by
// name; a name outside the domain is never routed to gh0; the agent
// stopped, resolved no longer lists the agent's server.
func TestSplitDNSThroughSystemdResolved(t *testing.T) {
	resolvedBinaries(t) // before any namespace: a skip costs nothing
	started := time.Now()
	var h *resolvedHost
	x := newTUNInstallOpts(t, tunOptions{
		ctrlArgs: []string{"--dns-domain", tunNameDomain},
		names:    []string{"grafana"},
		agentIn: func(laptop string, argv []string) []string {
			h = startResolved(t, laptop)
			return h.in(argv...)
		},
	}, serverAddr+":3000")
	serveApp(t, x.server, serverAddr+":3000", "hello from grafana")
	vip := awaitTUNRoute(t, x.laptop)
	x.agent.awaitLog(t, "split DNS: systemd-resolved sends names under the domain to the resolver", 10*time.Second)
	t.Logf("set up in %s", time.Since(started).Round(time.Millisecond))
	agentPID := x.agent.cmd.Process.Pid
	inAgent := func(argv ...string) (string, error) { return runIn(agentPID, h.busAddr, argv...) }

	// resolved holds the agent's resolver for the domain only, and gh0
	// is no default route.
	status, err := inAgent("resolvectl", "status", "--no-pager", "gh0")
	if err != nil {
		t.Fatalf("resolvectl status gh0: %v\n%s", err, status)
	}
	t.Logf("resolvectl status gh0:\n%s", status)
	for _, want := range []string{"DNS Servers: " + tunResolver, "DNS Domain: ~" + tunNameDomain, "-DefaultRoute"} {
		if !strings.Contains(status, want) {
			t.Errorf("resolvectl status gh0 = %q, want %q in it", status, want)
		}
	}

	st := runCmd(t, nil, false, filepath.Join(x.bin, "gatehouse"), "--socket", filepath.Join(x.state, "agent.sock"), "status")
	if want := "dns:        " + tunResolver + ":53 answers APP." + tunNameDomain + " (via systemd-resolved)"; !strings.Contains(st, want) {
		t.Errorf("gatehouse status = %q, want a line %q", st, want)
	}

	// libc asks resolved's stub, which asks the agent: the device's user
	// gets the app's virtual IP and reaches the app by name.
	name := "grafana." + tunNameDomain
	out, err := inAgent(setprivArgs(tunUser, "getent", "hosts", name)...)
	if f := strings.Fields(out); err != nil || len(f) < 2 || f[0] != vip {
		t.Fatalf("getent hosts %s as uid %s = %q, %v, want %s", name, tunUser, out, err, vip)
	}
	t.Logf("getent hosts %s as uid %s: %s", name, tunUser, strings.TrimSpace(out))
	out, err = inAgent(setprivArgs(tunUser, "curl", "-sS", "--max-time", "5", "http://"+name+":3000/")...)
	if err != nil || out != "hello from grafana" {
		t.Fatalf("curl http://%s:3000/ as uid %s = %q, %v, want %q", name, tunUser, out, err, "hello from grafana")
	}
	if out, err := inAgent("resolvectl", "query", "--no-pager", name); err != nil || !strings.Contains(out, "link: gh0") || !strings.Contains(out, vip) {
		t.Errorf("resolvectl query %s = %q, %v, want %s answered over gh0", name, out, err, vip)
	}

	// A name outside the domain is not routed to gh0: this namespace has
	// no other DNS server, so resolved finds none for it (routed to gh0,
	// the agent's resolver would have answered REFUSED).
	outside := "example.org"
	if out, err := inAgent("resolvectl", "query", "--no-pager", outside); err == nil || !strings.Contains(out, "No appropriate name servers") {
		t.Errorf("resolvectl query %s = %q, %v, want no server for it (not routed to gh0)", outside, out, err)
	} else {
		t.Logf("resolvectl query %s: %s", outside, strings.TrimSpace(out))
	}

	// Stopped, the agent reverts gh0 and the link goes: resolved no
	// longer lists the agent's server.
	x.agent.cmd.Process.Signal(syscall.SIGTERM)
	x.agent.awaitExit(t, 10*time.Second)
	if out, err := h.run("resolvectl", "status", "--no-pager"); err != nil || strings.Contains(out, tunResolver) || strings.Contains(out, "gh0") {
		t.Errorf("resolvectl status after the agent stopped = %q, %v, want neither gh0 nor %s", out, err, tunResolver)
	}
	if out, err := h.run("getent", "hosts", name); err == nil {
		t.Errorf("getent hosts %s after the agent stopped = %q, want no answer", name, out)
	}
	t.Logf("whole test %s", time.Since(started).Round(time.Millisecond))
}
