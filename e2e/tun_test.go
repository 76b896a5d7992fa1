package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The TUN-mode test's accounts on the laptop: the device's user, and
// another one sharing the machine.
const (
	tunUser  = "4242"
	tunOther = "65534" // nobody
)

// TestTUNMode runs the agent with --tun on a laptop namespace: the app is
// reached at its virtual IP with a real curl by the device's user, and by
// no other uid; a posture flip resets the open connection within 1 s and
// new ones fail at once; stopping the agent removes the interface, its
// routes and its rule, and a start after kill -9 cleans what was left.
func TestTUNMode(t *testing.T) {
	server, laptop := twoMachines(t)
	// A host with strict reverse-path filtering, the strictest a distro
	// ships: the TUN's replies must still pass it.
	runCmd(t, nil, false, netnsExec(laptop, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1", "net.ipv4.conf.default.rp_filter=1")...)
	bin := binaries(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "gatehouse")
	startProc(t, nil, netnsExec(server, filepath.Join(bin, "gatehouse-controller"), "--data-dir", data, "--listen", ":8443",
		"--public-name", serverAddr, "--gateway-host", serverAddr, "--trust-posture-overrides")...).
		awaitLine(t, "admin token written to ", 30*time.Second)
	serveApp(t, server, serverAddr+":3000", "hello from grafana")
	url := "https://" + serverAddr + ":8443"
	ca := filepath.Join(data, "ca.pem")
	env := []string{"GATEHOUSE_CONTROLLER=" + url, "GATEHOUSE_CA=" + ca, "GATEHOUSE_ADMIN_TOKEN_FILE=" + filepath.Join(data, "admin-token")}
	admin := func(args ...string) string {
		t.Helper()
		return runCmd(t, env, false, netnsExec(laptop, append([]string{filepath.Join(bin, "gatehouse"), "admin"}, args...)...)...)
	}
	admin("bootstrap", "--user", OwnerName, "--password-file", passwordFile(t, dir))
	admin("users", "create", "alice", "--groups", "eng")
	admin("apps", "create", "grafana", "--upstream", serverAddr+":3000")
	admin("profiles", "create", "secure", "--disk-encryption", "--firewall")
	admin("policies", "create", "eng-grafana", "--groups", "eng", "--apps", "grafana", "--profiles", "secure")
	tokFile := filepath.Join(dir, "enroll-token")
	Must(t, os.WriteFile(tokFile, []byte(strings.Fields(admin("tokens", "create", "--user", "alice"))[0]), 0o600))
	state := filepath.Join(dir, "agent")
	runCmd(t, nil, false, netnsExec(laptop, filepath.Join(bin, "gatehouse-agent"), "--state-dir", state, "enroll",
		"--controller", url, "--token-file", tokFile, "--ca", ca)...)
	override := filepath.Join(dir, "posture.json")
	setPosture := func(facts string) time.Time {
		tmp := override + ".tmp"
		Must(t, os.WriteFile(tmp, []byte(facts), 0o644))
		at := time.Now()
		Must(t, os.Rename(tmp, override))
		return at
	}
	setPosture(GoodPosture)
	startAgent := func(extra ...string) *proc {
		return startProc(t, nil, netnsExec(laptop, append([]string{filepath.Join(bin, "gatehouse-agent"), "--state-dir", state, "run",
			"--posture-override", override, "--local-user", tunUser, "--port-base", "0", "--tun", "--tun-name", "gh0"}, extra...)...)...)
	}
	agent := startAgent()
	vip := awaitTUNRoute(t, laptop)
	appURL := "http://" + vip + ":3000/"

	// The device's user reaches the app at its virtual IP; the tunnel
	// comes up on the first packet.
	if out, err := curlAs(laptop, tunUser, appURL); err != nil || out != "hello from grafana" {
		t.Fatalf("curl %s as uid %s = %q, %v, want %q", appURL, tunUser, out, err, "hello from grafana")
	}
	// Another account on the same machine has no route to it.
	for uid, want := range map[string]bool{tunUser: true, tunOther: false} {
		out, _ := exec.Command("ip", "-n", laptop, "route", "get", vip, "uid", uid).CombinedOutput()
		if got := strings.Contains(string(out), "dev gh0"); got != want {
			t.Errorf("ip route get %s uid %s = %q, want via gh0: %v", vip, uid, out, want)
		}
	}
	if out, err := curlAs(laptop, tunOther, appURL); err == nil || strings.Contains(out, "grafana") {
		t.Errorf("curl %s as uid %s = %q, %v, want a failure: only the device's user is routed to the TUN", appURL, tunOther, out, err)
	} else {
		t.Logf("uid %s: %v", tunOther, err)
	}

	// Nor by binding its socket to the interface (SO_BINDTODEVICE needs no
	// privilege since Linux 5.7, and the kernel then sends on-link even
	// without a route): the agent refuses a flow whose socket is not the
	// device user's.
	if out, err := curlAs(laptop, tunOther, "--interface", "gh0", appURL); err == nil || strings.Contains(out, "grafana") {
		t.Errorf("curl --interface gh0 %s as uid %s = %q, %v, want a refusal: the flow's socket is not the device user's", appURL, tunOther, out, err)
	} else {
		t.Logf("uid %s bound to gh0: %v", tunOther, err)
	}

	// A posture flip resets the open connection within 1 s, and a new
	// connection fails at once rather than hanging.
	ended := streamAs(t, laptop, tunUser, appURL+"stream")
	flip := setPosture(`{"disk_encryption": false, "firewall": true}`)
	select {
	case <-ended:
		t.Logf("open TUN flow cut %s after the posture flip", time.Since(flip).Round(time.Millisecond))
	case <-time.After(time.Second):
		t.Fatal("open TUN flow still alive 1 s after the posture flip")
	}
	start := time.Now()
	if out, err := curlAs(laptop, tunUser, appURL); err == nil {
		t.Errorf("curl %s after the posture flip = %q, want a refusal", appURL, out)
	} else {
		t.Logf("new TUN connection after the flip: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("new connection after the posture flip failed after %s, want at once (reset), not a hang", took)
	} else {
		t.Logf("new TUN connection refused in %s after the flip", took.Round(time.Millisecond))
	}
	// The denied app's route is withdrawn for an unreachable one, so its
	// connections fail in the kernel without reaching the agent; access
	// back, the app is routed to the TUN again and works.
	awaitTUNTable(t, laptop, "unreachable "+vip, time.Second)
	setPosture(GoodPosture)
	awaitTUNTable(t, laptop, vip+" dev gh0", 5*time.Second)
	if out, err := curlAs(laptop, tunUser, appURL); err != nil || out != "hello from grafana" {
		t.Errorf("curl %s after posture came back = %q, %v, want %q", appURL, out, err, "hello from grafana")
	}

	// Stop: the interface, its routes and its rule are gone.
	agent.cmd.Process.Signal(syscall.SIGTERM)
	agent.awaitExit(t, 10*time.Second)
	assertNoTUN(t, laptop, "after the agent stopped")

	// kill -9 leaves the rule behind; the next start cleans it.
	agent = startAgent()
	awaitTUNRoute(t, laptop)
	agent.cmd.Process.Kill()
	<-agent.done
	if n := len(tunRules(t, laptop)); n != 1 {
		t.Errorf("uid rules after kill -9 = %d, want the crashed agent's 1 left behind", n)
	}
	agent = startAgent("--tunnel-idle", "1s")
	awaitTUNRoute(t, laptop)
	if rules := tunRules(t, laptop); len(rules) != 1 {
		t.Errorf("uid rules after a restart following kill -9 = %q, want exactly 1 (the stale one removed)", rules)
	}
	if out, err := curlAs(laptop, tunUser, appURL); err != nil || out != "hello from grafana" {
		t.Errorf("curl %s after the restart = %q, %v, want %q", appURL, out, err, "hello from grafana")
	}
	// With --tunnel-idle 1s the tunnel, its flow ended, is released and
	// leaves `gatehouse status`; the next curl asks for a grant again.
	agent.awaitLog(t, "tunnel released: idle", 10*time.Second)
	status := func() string {
		return runCmd(t, nil, false, filepath.Join(bin, "gatehouse"), "--socket", filepath.Join(state, "agent.sock"), "status")
	}
	if st := status(); !strings.Contains(st, "tunnels:    none") {
		t.Errorf("gatehouse status after the idle release = %q, want no tunnel", st)
	}
	if out, err := curlAs(laptop, tunUser, appURL); err != nil || out != "hello from grafana" {
		t.Errorf("curl %s after the idle release = %q, %v, want %q", appURL, out, err, "hello from grafana")
	}
	agent.cmd.Process.Signal(syscall.SIGTERM)
	agent.awaitExit(t, 10*time.Second)
	assertNoTUN(t, laptop, "after the restarted agent stopped")
}

// awaitTUNRoute waits for an app route in the TUN table and returns its
// virtual IP.
func awaitTUNRoute(t *testing.T, ns string) string {
	t.Helper()
	var vip string
	Eventually(t, 20*time.Second, func() error {
		out, _ := exec.Command("ip", "-n", ns, "-4", "route", "show", "table", "all").CombinedOutput()
		for l := range strings.Lines(string(out)) {
			if f := strings.Fields(l); len(f) >= 3 && f[1] == "dev" && f[2] == "gh0" {
				vip = f[0]
				return nil
			}
		}
		return fmt.Errorf("routes = %q, want an app route on gh0", out)
	})
	if len(tunRules(t, ns)) == 0 {
		t.Errorf("no uid rule for uid %s to the TUN table", tunUser)
	}
	return vip
}

// awaitTUNTable waits for a route starting with prefix in the TUN table.
func awaitTUNTable(t *testing.T, ns, prefix string, within time.Duration) {
	t.Helper()
	start := time.Now()
	Eventually(t, within, func() error {
		out, _ := exec.Command("ip", "-n", ns, "-4", "route", "show", "table", "5308").CombinedOutput()
		for l := range strings.Lines(string(out)) {
			if strings.HasPrefix(l, prefix+" ") || strings.TrimSpace(l) == prefix {
				return nil
			}
		}
		return fmt.Errorf("TUN table = %q, want a route %q", out, prefix)
	})
	t.Logf("TUN table has %q after %s", prefix, time.Since(start).Round(time.Millisecond))
}

// tunRules are the uid rules that send traffic to the TUN table; the
// only other rule allowed to is the one for the interface's own address.
func tunRules(t *testing.T, ns string) []string {
	t.Helper()
	out, err := exec.Command("ip", "-n", ns, "-4", "rule", "show").CombinedOutput()
	Must(t, err)
	var rules []string
	for l := range strings.Lines(string(out)) {
		switch {
		case !strings.Contains(l, "lookup 5308"):
		case strings.Contains(l, "uidrange "+tunUser+"-"+tunUser):
			rules = append(rules, strings.TrimSpace(l))
		case !strings.Contains(l, "from 169.254.53.8 lookup"):
			t.Errorf("rule %q sends more than uid %s (and the TUN's own address) to the TUN table", l, tunUser)
		}
	}
	return rules
}

func assertNoTUN(t *testing.T, ns, when string) {
	t.Helper()
	if out, err := exec.Command("ip", "-n", ns, "link", "show", "gh0").CombinedOutput(); err == nil {
		t.Errorf("link gh0 %s: %s, want it gone", when, out)
	}
	if out, _ := exec.Command("ip", "-n", ns, "-4", "route", "show", "table", "5308").CombinedOutput(); strings.Contains(string(out), "dev") {
		t.Errorf("TUN table %s: %s, want it empty", when, out)
	}
	if out, _ := exec.Command("ip", "-n", ns, "-4", "rule", "show").CombinedOutput(); strings.Contains(string(out), "lookup 5308") {
		t.Errorf("rules %s: %s, want none to the TUN table", when, out)
	}
}

// curlAs runs curl as uid inside ns and returns its body; args end with
// the URL.
func curlAs(ns, uid string, args ...string) (string, error) {
	argv := append([]string{"curl", "-sS", "--max-time", "5"}, args...)
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, setprivArgs(uid, argv...)...)...).Output()
	if ee, ok := err.(*exec.ExitError); ok {
		err = fmt.Errorf("%v: %s", err, strings.TrimSpace(string(ee.Stderr)))
	}
	return string(out), err
}

func setprivArgs(uid string, argv ...string) []string {
	return append([]string{"setpriv", "--reuid=" + uid, "--regid=" + uid, "--clear-groups"}, argv...)
}

// streamAs opens url's never-ending stream with curl as uid inside ns; the
// channel closes when curl ends after the first bytes arrived.
func streamAs(t *testing.T, ns, uid, url string) <-chan struct{} {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, setprivArgs(uid, "curl", "-sSN", url)...)...)
	stdout, err := cmd.StdoutPipe()
	Must(t, err)
	Must(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	r := bufio.NewReader(stdout)
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatalf("stream %s as uid %s: %v", url, uid, err)
	}
	ended := make(chan struct{})
	go func() {
		for {
			if _, err := r.ReadString('\n'); err != nil {
				break
			}
		}
		cmd.Wait()
		close(ended)
	}()
	return ended
}
