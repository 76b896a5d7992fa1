package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
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
// processes — and checks that it shows access granted, cut and restored.
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
	out, err = cmd.CombinedOutput()
	if err != nil {
		logs, _ := os.ReadFile(filepath.Join(dir, "agent.log"))
		t.Fatalf("gatehouse-demo: %v\n%s\nagent log:\n%s", err, out, logs)
	}
	for _, want := range []string{
		`(grafana, through its own WireGuard tunnel) → "hello from grafana"`,
		`gatehouse connect wiki → refused, as the policy says: app "wiki" is not in any policy for your groups (eng)`,
		"the open connection was cut",
		"- disk encryption is off (fix: Turn on disk encryption",
		"grafana is reachable again",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}
