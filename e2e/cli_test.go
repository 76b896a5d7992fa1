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
	_, a := NewStandard(t, Options{})
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
	if apps := a.run(t, "apps"); strings.Contains(apps, "wiki") {
		t.Errorf("gatehouse apps = %q, want no wiki (in no policy for alice) before she asks for it", apps)
	}
	connect, err := exec.Command(cli(t), "--socket", a.Socket, "connect", "wiki").CombinedOutput()
	for _, want := range []string{"wiki: denied", `- app "wiki" is not in any policy for your groups (eng)`,
		"fix: Ask an admin to give one of your groups access to wiki", "access to wiki denied"} {
		if err == nil || !strings.Contains(string(connect), want) {
			t.Errorf("gatehouse connect wiki = %q, %v, want an error and %q", connect, err, want)
		}
	}
	apps := a.run(t, "apps")
	for _, want := range []string{
		"grafana: denied",
		"- disk encryption is off",
		"fix: Encrypt the system disk with LUKS",
		"wiki: denied",
		`- app "wiki" is not in any policy for your groups (eng)`,
	} {
		if !strings.Contains(apps, want) {
			t.Errorf("gatehouse apps = %q, want it to contain %q", apps, want)
		}
	}
	posture := a.run(t, "posture")
	// Columns are as wide as the longest fact name: compare words.
	words := strings.Join(strings.Fields(posture), " ")
	for _, want := range []string{"os_family linux", "disk_encryption false", "FAIL disk encryption is off", "PASS the firewall is on"} {
		if !strings.Contains(words, want) {
			t.Errorf("gatehouse posture = %q, want it to contain %q", posture, want)
		}
	}
}

// admin runs `gatehouse admin ARGS` against env's controller.
func (e *Env) admin(t *testing.T, wantErr bool, args ...string) string {
	t.Helper()
	cmd := exec.Command(cli(t), append([]string{"admin"}, args...)...)
	cmd.Env = append(os.Environ(), "GATEHOUSE_CONTROLLER="+e.Server.URL(), "GATEHOUSE_CA="+e.Server.CAFile(),
		"GATEHOUSE_ADMIN_TOKEN="+e.AdminToken)
	out, err := cmd.CombinedOutput()
	if (err != nil) != wantErr {
		t.Fatalf("gatehouse admin %v: err = %v, want error %v\n%s", args, err, wantErr, out)
	}
	return string(out)
}

func TestAdminCLIBuildsAWorkingPolicy(t *testing.T) {
	env := New(t, Options{})
	up := env.Upstream(t, "grafana")
	env.admin(t, false, "users", "create", "bob", "--groups", "ops", "--email", "bob@example.com")
	env.admin(t, false, "apps", "create", "grafana", "--upstream", up)
	env.admin(t, false, "profiles", "create", "linux-only", "--os-family", "linux", "--disk-encryption")
	env.admin(t, false, "policies", "create", "ops-grafana", "--groups", "ops", "--apps", "grafana", "--profiles", "linux-only")

	if out := env.admin(t, true, "apps", "create", "broken", "--upstream", "nohostport"); !strings.Contains(out, `upstream "nohostport" is not host:port`) {
		t.Errorf("gatehouse admin apps create with a bad upstream = %q, want the reason", out)
	}
	if out := env.admin(t, true, "policies", "create", "p2", "--groups", "ops", "--apps", "nope"); !strings.Contains(out, `app "nope"`) {
		t.Errorf("gatehouse admin policies create with a missing app = %q, want it named", out)
	}
	list := env.admin(t, false, "apps", "list")
	if !strings.Contains(list, "grafana") || !strings.Contains(list, "100.80.") || strings.Contains(list, "broken") {
		t.Errorf("gatehouse admin apps list = %q, want grafana with a virtual IP and no broken app", list)
	}

	a := env.Agent(t, "bob")
	if _, err := a.Get("grafana", "/"); err != nil {
		t.Fatalf("Get(grafana) for bob = %v, want access granted by the CLI-made policy", err)
	}
	grants := env.admin(t, false, "grants")
	if !strings.Contains(grants, "bob") || !strings.Contains(grants, "grafana") {
		t.Errorf("gatehouse admin grants = %q, want bob's grafana grant", grants)
	}
	devices := env.admin(t, false, "devices", "list")
	if !strings.Contains(devices, "test-bob") || !strings.Contains(devices, "true") {
		t.Errorf("gatehouse admin devices list = %q, want bob's device online", devices)
	}
	start := time.Now()
	env.admin(t, false, "groups", "remove-member", "ops", "bob")
	a.Decision("grafana", false, time.Second)
	t.Logf("denied %s after `gatehouse admin groups remove-member`", time.Since(start))
}
