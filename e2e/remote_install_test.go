package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gatehouse-ztna/gatehouse/internal/testenv"
)

// Addresses of the two machines of TestRemoteInstallFromREADME: each a
// network namespace of its own, joined by a veth pair.
const (
	serverAddr = "10.203.0.1" // the controller, its embedded gateway and the app
	laptopAddr = "10.203.0.2" // alice's laptop and the admin's
)

// TestRemoteInstallFromREADME follows README's "manual install, step by
// step" with the real binaries across two network namespaces: the
// controller on a server reached at a non-loopback address, the admin CLI
// and the agent on another machine. Access must work end to end: over
// https checked against the controller's CA, and over WireGuard to the
// gateway host.
func TestRemoteInstallFromREADME(t *testing.T) {
	server, laptop := twoMachines(t)
	bin := binaries(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "gatehouse")

	// Without --gateway-host a controller beyond loopback refuses to start.
	out := runCmd(t, nil, true, netnsExec(server, filepath.Join(bin, "gatehouse-controller"), "--data-dir", filepath.Join(dir, "refused"), "--listen", ":8443")...)
	if !strings.Contains(out, "needs --gateway-host") {
		t.Errorf("gatehouse-controller --listen :8443 without --gateway-host = %q, want it to ask for --gateway-host", out)
	}

	// On the server.
	ctrl := startProc(t, nil, netnsExec(server, filepath.Join(bin, "gatehouse-controller"), "--data-dir", data, "--listen", ":8443",
		"--public-name", serverAddr, "--gateway-host", serverAddr,
		"--trust-posture-overrides")...) // the test's laptop proves its posture with an override file
	ctrl.awaitLine(t, "admin token written to ", 30*time.Second)
	upstream := serverAddr + ":3000"
	serveApp(t, server, upstream, "hello from grafana")

	// On the admin's laptop: the CA and the token copied over.
	ca := filepath.Join(dir, "ca.pem")
	copyFile(t, filepath.Join(data, "ca.pem"), ca)
	tokenFile := filepath.Join(dir, "admin-token")
	copyFile(t, filepath.Join(data, "admin-token"), tokenFile)
	url := "https://" + serverAddr + ":8443"
	env := []string{"GATEHOUSE_CONTROLLER=" + url, "GATEHOUSE_CA=" + ca, "GATEHOUSE_ADMIN_TOKEN_FILE=" + tokenFile}
	admin := func(args ...string) string {
		t.Helper()
		return runCmd(t, env, false, netnsExec(laptop, append([]string{filepath.Join(bin, "gatehouse"), "admin"}, args...)...)...)
	}
	admin("bootstrap", "--user", OwnerName, "--password-file", passwordFile(t, dir))
	admin("users", "create", "alice", "--groups", "eng")
	admin("apps", "create", "grafana", "--upstream", upstream)
	admin("profiles", "create", "secure", "--disk-encryption", "--firewall")
	admin("policies", "create", "eng-grafana", "--groups", "eng", "--apps", "grafana", "--profiles", "secure")
	token := strings.Fields(admin("tokens", "create", "--user", "alice"))[0]

	// On alice's laptop.
	state := filepath.Join(dir, "agent")
	override := filepath.Join(dir, "posture.json")
	Must(t, os.WriteFile(override, []byte(GoodPosture), 0o600))
	tokFile := filepath.Join(dir, "enroll-token")
	Must(t, os.WriteFile(tokFile, []byte(token), 0o600))
	runCmd(t, nil, false, netnsExec(laptop, filepath.Join(bin, "gatehouse-agent"), "--state-dir", state, "enroll",
		"--controller", url, "--token-file", tokFile, "--ca", ca)...)
	startProc(t, nil, netnsExec(laptop, filepath.Join(bin, "gatehouse-agent"), "--state-dir", state, "run",
		"--posture-override", override)...)
	var local string
	Eventually(t, 15*time.Second, func() error {
		cmd := exec.Command("ip", "netns", "exec", laptop, filepath.Join(bin, "gatehouse"), "--socket", filepath.Join(state, "agent.sock"), "apps")
		out, err := cmd.CombinedOutput()
		for l := range strings.Lines(string(out)) {
			if f := strings.Fields(l); len(f) >= 3 && f[0] == "grafana:" && f[1] == "allowed" {
				local = f[len(f)-1]
				return nil
			}
		}
		return fmt.Errorf("gatehouse apps = %q, %v, want grafana allowed with a local address", out, err)
	})
	if local != "127.0.0.1:17000" {
		t.Errorf("grafana's local address = %s, want README's 127.0.0.1:17000", local)
	}
	got, err := getIn(laptop, "http://"+local+"/")
	if err != nil || got != "hello from grafana" {
		t.Fatalf("GET http://%s/ on the laptop = %q, %v, want %q", local, got, err, "hello from grafana")
	}
	peers := admin("grants")
	if !strings.Contains(peers, "alice") || !strings.Contains(peers, "grafana") {
		t.Errorf("gatehouse admin grants = %q, want alice's grafana grant", peers)
	}
}

// twoMachines makes two network namespaces joined by a veth pair, the
// server at serverAddr and the laptop at laptopAddr, each with its own
// loopback; Cleanup deletes them (and with them the link).
func twoMachines(t testing.TB) (server, laptop string) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "needs root to make network namespaces (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		testenv.SkipOrFail(t, "needs iproute2's ip to make network namespaces")
	}
	tag := fmt.Sprintf("gh%d", os.Getpid())
	server, laptop = tag+"-srv", tag+"-lap"
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	for _, ns := range []string{server, laptop} {
		ip("netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		ip("-n", ns, "link", "set", "lo", "up")
	}
	ip("-n", server, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", laptop)
	for ns, addr := range map[string]string{server: serverAddr, laptop: laptopAddr} {
		ip("-n", ns, "addr", "add", addr+"/24", "dev", "eth0")
		ip("-n", ns, "link", "set", "eth0", "up")
	}
	return server, laptop
}

func netnsExec(ns string, argv ...string) []string {
	return append([]string{"ip", "netns", "exec", ns}, argv...)
}

// inNetns runs f on an OS thread switched into namespace ns, so sockets f
// opens live there (and keep living there when used from other threads).
func inNetns(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Unlocked only once back home: if switching back fails, the
		// thread ends with this goroutine rather than serving others.
		home, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			errc <- err
			return
		}
		defer home.Close()
		target, err := os.Open(filepath.Join("/var/run/netns", ns))
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter netns %s: %w", ns, err)
			return
		}
		ferr := f()
		if err := unix.Setns(int(home.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("leave netns %s: %w", ns, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// serveApp answers every HTTP request with body at addr inside ns, but
// /stream, which streams until the client goes (see streamUntilClosed).
func serveApp(t testing.TB, ns, addr, body string) {
	t.Helper()
	var l net.Listener
	Must(t, inNetns(ns, func() (err error) {
		l, err = net.Listen("tcp", addr)
		return err
	}))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			streamUntilClosed(w)
			return
		}
		io.WriteString(w, body)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
}

// dialerIn is a DialContext whose sockets live in ns.
func dialerIn(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (conn net.Conn, err error) {
		err = inNetns(ns, func() error {
			conn, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return conn, err
	}
}

// getIn does an HTTP GET from inside ns.
func getIn(ns, url string) (string, error) {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, DialContext: dialerIn(ns)}}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	Must(t, err)
	Must(t, os.WriteFile(to, b, 0o600))
}
