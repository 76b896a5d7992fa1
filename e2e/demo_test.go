package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// freePort finds a port that is free on loopback for network ("tcp" or "udp").
func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		Must(t, err)
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Must(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestDemo runs what `make run` runs — the real binaries as separate
// processes — and checks that it shows, in this order: grafana denied
// before anyone signs in (the policy wants MFA), alice signing in through
// the controller's pages with password + TOTP, access granted, cut by a
// posture change and restored, cut by a logout with the reason, and back
// after signing in again; then how to sign in by hand.
func TestDemo(t *testing.T) {
	bin := t.TempDir()
	out, err := exec.Command("go", "build", "-o", bin+"/", "../cmd/gatehouse", "../cmd/gatehouse-agent",
		"../cmd/gatehouse-controller", "../cmd/gatehouse-demo").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dir := filepath.Join(t.TempDir(), "demo")
	cmd := exec.Command(filepath.Join(bin, "gatehouse-demo"), "--once", "--dir", dir,
		"--listen", "127.0.0.1:"+strconv.Itoa(freePort(t, "tcp")),
		"--gateway-port", strconv.Itoa(freePort(t, "udp")),
		"--port-base", strconv.Itoa(freePort(t, "tcp")))
	start := time.Now()
	out, err = cmd.CombinedOutput()
	took := time.Since(start)
	if err != nil {
		logs, _ := os.ReadFile(filepath.Join(dir, "agent.log"))
		t.Fatalf("gatehouse-demo: %v\n%s\nagent log:\n%s", err, out, logs)
	}
	t.Logf("the demo reached its steady state in %v", took.Round(time.Millisecond))
	if took > 30*time.Second {
		t.Errorf("the demo took %v to reach its steady state, want well under 30 s", took)
	}
	rest := string(out)
	for _, want := range []string{
		"the agent keeps its device key and session tokens in: ",
		`before signing in, gatehouse apps says grafana is denied: policy "eng-grafana" needs a signed-in user on this device`,
		"signing in as alice at https://127.0.0.1:",
		"/device with password + TOTP",
		"user alice + password → asks for the TOTP code",
		`TOTP code from the seed → the page shows device "alice-laptop"; approving it`,
		"signed in as alice (pwd, otp)",
		`(grafana, through its own WireGuard tunnel) → "hello from grafana"`,
		`gatehouse connect wiki → refused, as the policy says: app "wiki" is not in any policy for your groups (eng)`,
		"the open connection was cut",
		"after the posture change",
		"- disk encryption is off (fix: Encrypt the system disk with LUKS",
		"grafana is reachable again",
		"gatehouse logout while a connection is open",
		"the open connection was cut",
		"after the logout",
		"grafana: denied\n        - this device needs a signed-in user and nobody is signed in",
		"`gatehouse status` says the last session ended: ",
		"signing in as alice at https://127.0.0.1:",
		"signed in as alice (pwd, otp)",
		"signed in again: grafana is reachable again",
		"Sign in by hand",
		"login --no-browser",
		"user:     alice",
		"password: ",
		"otpauth://totp/Gatehouse:alice?",
	} {
		i := strings.Index(rest, want)
		if i < 0 {
			t.Fatalf("demo output lacks %q (in this order, after what came before):\n%s", want, out)
		}
		rest = rest[i+len(want):]
	}

	// The agent's own word or the controller's, whichever came first.
	if !regexp.MustCompile("says the last session ended: (you signed out|.*\\(logout\\))").Match(out) {
		t.Errorf("demo output: the ended session's reason does not name the logout:\n%s", out)
	}

	// The credentials the demo prints for signing in by hand are on the
	// terminal only, never in the processes' logs.
	secrets := regexp.MustCompile(`(?m)^  password: (\S+)$|^  TOTP:     seed (\S+),`).FindAllStringSubmatch(string(out), -1)
	if len(secrets) != 2 || secrets[0][1] == "" || secrets[1][2] == "" {
		t.Fatalf("demo output: password and seed lines = %q, want both", secrets)
	}
	for _, log := range []string{"controller.log", "agent.log"} {
		b, err := os.ReadFile(filepath.Join(dir, log))
		Must(t, err)
		for _, secret := range []string{secrets[0][1], secrets[1][2]} {
			if strings.Contains(string(b), secret) {
				t.Errorf("%s holds a credential the demo printed (%.4s…)", log, secret)
			}
		}
	}
}
