package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	cliOnce sync.Once
	cliPath string
	cliErr  error
)

// cli builds the real `gatehouse` binary once per test run.
func cli(t *testing.T) string {
	t.Helper()
	cliOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gatehouse-cli")
		if err != nil {
			cliErr = err
			return
		}
		cliPath = filepath.Join(dir, "gatehouse")
		out, err := exec.Command("go", "build", "-o", cliPath, "../cmd/gatehouse").CombinedOutput()
		if err != nil {
			cliErr = err
			t.Logf("%s", out)
		}
	})
	if cliErr != nil {
		t.Fatalf("build gatehouse CLI: %v", cliErr)
	}
	return cliPath
}

// run runs `gatehouse ARGS` against the agent's socket.
func (a *Agent) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(cli(t), append([]string{"--socket", a.Socket}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("gatehouse %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func TestCLIShowsWhyAccessIsDenied(t *testing.T) {
	env := New(t, Options{})
	env.Standard(t)
	a := env.Agent(t, "alice")
	a.Decision("grafana", true, 5*time.Second)
	if _, err := a.Get("grafana", "/"); err != nil {
		t.Fatal(err)
	}
	status := a.run(t, "status")
	for _, want := range []string{"connected", "user:       alice", "grafana", "0600 files under"} {
		if !strings.Contains(status, want) {
			t.Errorf("gatehouse status = %q, want it to contain %q", status, want)
		}
	}

	a.SetPosture(`{"disk_encryption": false, "firewall": true}`)
	a.Decision("grafana", false, 2*time.Second)
	apps := a.run(t, "apps")
	for _, want := range []string{
		"grafana: denied",
		"- disk encryption is off",
		"fix: Turn on disk encryption",
		"wiki: denied",
		`- app "wiki" is not in any policy for your groups (eng)`,
	} {
		if !strings.Contains(apps, want) {
			t.Errorf("gatehouse apps = %q, want it to contain %q", apps, want)
		}
	}
	posture := a.run(t, "posture")
	for _, want := range []string{"os_family        linux", "disk_encryption  false", "FAIL    disk encryption is off", "PASS    the firewall is on"} {
		if !strings.Contains(posture, want) {
			t.Errorf("gatehouse posture = %q, want it to contain %q", posture, want)
		}
	}
}
