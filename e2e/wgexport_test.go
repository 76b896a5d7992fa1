package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/internal/testenv"
)

// TestWireGuardExportWithTheStandardTools: `gatehouse connect app0
// --wireguard-config` writes a config that Debian's wireguard-go and wg
// bring up in the client namespace; real curl reaches app0 through it;
// the grant is renewed past several leases while the agent lives; a
// posture flip cuts the open flow and new connections fail; exported
// again, it works; --release ends it.
func TestWireGuardExportWithTheStandardTools(t *testing.T) {
	for _, tool := range []string{"wg", "wg-quick", "wireguard-go", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.SkipOrFail(t, "needs "+tool+" (apt-get install wireguard-tools wireguard-go curl)")
		}
	}
	x := newStandalone(t)
	s := x.s
	x.local("app0") // the agent is up and app0 allowed
	sock := filepath.Join(x.agentDir, "agent.sock")
	// A directory of the user's own: the CLI refuses world-writable ones.
	dir := filepath.Join(x.dir, "wg")
	Must(t, os.Mkdir(dir, 0o700))
	conf := filepath.Join(dir, "app0.conf")
	gatehouse := func(wantErr bool, args ...string) string {
		t.Helper()
		return runCmd(t, nil, wantErr, netnsExec(s.Client, append([]string{filepath.Join(x.bin, "gatehouse"), "--socket", sock}, args...)...)...)
	}

	// Refused places: a world-writable directory, a symlink.
	Must(t, os.Chmod(x.dir, 0o777))
	if out := gatehouse(true, "connect", "app0", "--wireguard-config", "--out", filepath.Join(x.dir, "x.conf")); !strings.Contains(out, "anyone may write") {
		t.Errorf("export into a world-writable dir = %q, want a refusal", out)
	}
	Must(t, os.Chmod(x.dir, 0o700))
	link := filepath.Join(dir, "link.conf")
	Must(t, os.Symlink(filepath.Join(x.dir, "elsewhere"), link))
	if out := gatehouse(true, "connect", "app0", "--wireguard-config", "--out", link); !strings.Contains(out, "symlink") {
		t.Errorf("export over a symlink = %q, want a refusal", out)
	}
	if _, err := os.Stat(filepath.Join(x.dir, "elsewhere")); err == nil {
		t.Error("export over a symlink wrote through it")
	}

	export := func() (vip string) {
		t.Helper()
		out := gatehouse(false, "connect", "app0", "--wireguard-config", "--out", conf)
		if !strings.Contains(out, "private key") {
			t.Errorf("export output = %q, want the warning that the file holds a private key", out)
		}
		fi, err := os.Stat(conf)
		Must(t, err)
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v, want 0600", conf, fi.Mode().Perm())
		}
		b, err := os.ReadFile(conf)
		Must(t, err)
		m := regexp.MustCompile(`(?m)^AllowedIPs = (\S+)/32$`).FindStringSubmatch(string(b))
		if m == nil || strings.Contains(string(b), "0.0.0.0/0") {
			t.Fatalf("exported config = %q, want AllowedIPs = the app's virtual IP /32 only", b)
		}
		addr := regexp.MustCompile(`(?m)^Address = (\S+)$`).FindStringSubmatch(string(b))
		if addr == nil {
			t.Fatalf("exported config = %q, want an Address", b)
		}
		x.wgUp(conf, addr[1], m[1])
		return m[1]
	}
	curl := func(vip string, within time.Duration) (string, error) {
		out, err := exec.Command("ip", "netns", "exec", s.Client, "curl", "-sS", "-m", fmt.Sprint(within.Seconds()), "http://"+vip+"/").CombinedOutput()
		return string(out), err
	}

	vip := export()
	Eventually(t, 5*time.Second, func() error {
		if got, err := curl(vip, 2*time.Second); err != nil || got != "hello from app0" {
			return fmt.Errorf("curl http://%s/ through the exported config = %q, %v", vip, got, err)
		}
		return nil
	})
	x.awaitPeers(0, "1", 2*time.Second)
	if out := gatehouse(false, "status"); !strings.Contains(out, "exported:   app0") {
		t.Errorf("gatehouse status = %q, want app0 listed as exported", out)
	}

	// Renewed while the agent lives: past three leases it still works.
	time.Sleep(3 * standaloneLease)
	if got, err := curl(vip, 2*time.Second); err != nil || got != "hello from app0" {
		t.Fatalf("curl after 3 leases (%s each) = %q, %v, want the app: the exported grant was not renewed", standaloneLease, got, err)
	}

	// Revocation: the open flow ends within a second, new ones fail.
	ended := x.stream(net.JoinHostPort(vip, "80"))
	flip := x.setPosture(`{"disk_encryption": false, "firewall": true}`)
	select {
	case <-ended:
		t.Logf("open flow through the exported config cut %s after the posture flip", time.Since(flip).Round(time.Millisecond))
	case <-time.After(time.Second):
		t.Fatal("open flow through the exported config still alive 1 s after the posture flip")
	}
	if got, err := curl(vip, time.Second); err == nil {
		t.Fatalf("curl after the revocation = %q, want a failure", got)
	}
	x.awaitPeers(0, "0", 2*time.Second)

	// Flip back, export again (a new key): works again.
	x.setPosture(GoodPosture)
	x.local("app0") // allowed again
	vip = export()
	Eventually(t, 5*time.Second, func() error {
		if got, err := curl(vip, 2*time.Second); err != nil || got != "hello from app0" {
			return fmt.Errorf("curl after exporting again = %q, %v", got, err)
		}
		return nil
	})
	// While exported, the agent's own port for app0 refuses: the device
	// holds one grant per app.
	if got, err := getIn(s.Client, "http://"+x.local("app0")+"/"); err == nil && got == "hello from app0" {
		t.Error("the agent's local port served app0 while its grant was exported")
	}

	// --release ends it at once.
	gatehouse(false, "connect", "app0", "--wireguard-config", "--release")
	x.awaitPeers(0, "0", 2*time.Second)
	if got, err := curl(vip, time.Second); err == nil {
		t.Fatalf("curl after --release = %q, want a failure", got)
	}
}

// wgUp (re)makes the client namespace's wgx0 with Debian's wireguard-go
// and configures it from the wg-quick file conf with wg setconf.
func (x *standalone) wgUp(conf, addr, vip string) {
	x.t.Helper()
	ns := x.s.Client
	exec.Command("ip", "-n", ns, "link", "del", "wgx0").Run()
	startProc(x.t, []string{"WG_PROCESS_FOREGROUND=1"}, netnsExec(ns, "wireguard-go", "-f", "wgx0")...)
	Eventually(x.t, 5*time.Second, func() error {
		return exec.Command("ip", "-n", ns, "link", "show", "wgx0").Run()
	})
	stripped, err := exec.Command("wg-quick", "strip", conf).Output()
	Must(x.t, err)
	plain := conf + ".wg"
	Must(x.t, os.WriteFile(plain, stripped, 0o600))
	runCmd(x.t, nil, false, netnsExec(ns, "wg", "setconf", "wgx0", plain)...)
	runCmd(x.t, nil, false, "ip", "-n", ns, "addr", "add", addr, "dev", "wgx0")
	runCmd(x.t, nil, false, "ip", "-n", ns, "link", "set", "wgx0", "up")
	runCmd(x.t, nil, false, "ip", "-n", ns, "route", "replace", vip+"/32", "dev", "wgx0")
}
