package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/agent/sysservice"
	"github.com/gatehouse-ztna/gatehouse/internal/testenv"
)

// serviceArgs is the command line the installed service runs, with its
// state dir and socket moved under the test's dirs and the test's posture
// override and free ports added.
func serviceArgs(a *agentProc, localUser string) []string {
	args := []string{filepath.Join(a.bin, "gatehouse-agent")}
	for _, arg := range sysservice.Arguments(sysservice.Options{LocalUser: localUser}) {
		switch arg {
		case sysservice.StateDir:
			arg = a.state
		case localapi.ServiceSocket:
			arg = a.socket
		}
		args = append(args, arg)
	}
	return append(args, "--posture-override", a.override, "--port-base", "0")
}

// TestServiceRestartKeepsIdentityAndSignIn runs the agent as the service
// does (root, its arguments, secrets in 0600 files: no session bus),
// signs alice in, stops it and starts it again: the same device, still
// signed in, the tunnel back. Another account's CLI is refused with whom
// the agent serves. The device's user here is root, the test's account,
// since the proxy ports serve only that user (a non-root device user's CLI
// is served in agent's TestLocalAPIRefusesOtherUsers).
func TestServiceRestartKeepsIdentityAndSignIn(t *testing.T) {
	if os.Getuid() != 0 {
		testenv.SkipOrFail(t, "the service runs as root")
	}
	w := newSignInWorld(t, nil)
	a := newAgentProc(t)
	// The service's socket dir is reachable by every account (the agent
	// checks callers); so is a copy of the CLI.
	Must(t, os.Chmod(filepath.Dir(a.socket), 0o755))
	a.socket = filepath.Join(filepath.Dir(a.socket), "run", "agent.sock")
	noBus := []string{"DBUS_SESSION_BUS_ADDRESS="}
	tok, err := w.Admin.EnrollmentToken(t.Context(), "alice", time.Hour)
	Must(t, err)
	tokFile := filepath.Join(t.TempDir(), "enroll-token")
	Must(t, os.WriteFile(tokFile, []byte(tok.Token), 0o600))
	runCmd(t, noBus, false, filepath.Join(a.bin, "gatehouse-agent"), "--state-dir", a.state, "enroll",
		"--controller", w.Server.URL(), "--token-file", tokFile, "--ca", w.Server.CAFile(), "--hostname", "laptop-alice")

	start := func() {
		a.proc = startProc(t, noBus, serviceArgs(a, "0")...)
		Eventually(t, 15*time.Second, func() error {
			_, err := os.Stat(a.socket)
			return err
		})
	}
	start()
	cli, _, code := a.login()
	approveOverHTTP(t, w.Env, code, "alice", testPassword, func() string { return w.nextTOTP(t) })
	cli.awaitExit(t, 15*time.Second)
	addr, _ := a.app("grafana", "allowed", 15*time.Second)
	if got, err := httpGet(addr); err != nil || got != "hello from grafana" {
		t.Fatalf("GET through %s = %q, %v; want hello from grafana", addr, got, err)
	}
	before := a.cli(false, "status")

	a.stop()
	if !a.proc.cmd.ProcessState.Success() {
		t.Errorf("the agent stopped by SIGTERM exited %v, want 0 (a stop, not a failure to restart on)", a.proc.cmd.ProcessState)
	}
	start()
	after := a.cli(false, "status")
	for _, want := range []string{deviceLine(t, before), "signed in as alice", "secrets:    0600 files under"} {
		if !strings.Contains(after, want) {
			t.Errorf("after a restart gatehouse status = %q, want %q in it", after, want)
		}
	}
	addr, _ = a.app("grafana", "allowed", 15*time.Second)
	Eventually(t, 10*time.Second, func() error {
		if got, err := httpGet(addr); err != nil || got != "hello from grafana" {
			return fmt.Errorf("GET through %s after the restart = %q, %v", addr, got, err)
		}
		return nil
	})

	// The CLI of another account.
	bin := t.TempDir()
	Must(t, os.Chmod(bin, 0o755))
	Must(t, os.Chmod(filepath.Dir(bin), 0o755))
	gh := filepath.Join(bin, "gatehouse")
	copyExecutable(t, filepath.Join(a.bin, "gatehouse"), gh)
	out := runCmd(t, []string{"HOME=/"}, true, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		gh, "--socket", a.socket, "status")
	if !strings.Contains(out, "this agent serves user root (uid 0)") || !strings.Contains(out, "you are nobody (uid 65534)") {
		t.Errorf("gatehouse status as nobody = %q, want refused: this agent serves user root (uid 0); you are nobody (uid 65534)", out)
	}
}

// deviceLine is the device line of `gatehouse status`.
func deviceLine(t *testing.T, status string) string {
	t.Helper()
	for l := range strings.Lines(status) {
		if strings.HasPrefix(l, "device:") {
			return strings.TrimSpace(l)
		}
	}
	t.Fatalf("gatehouse status = %q, without a device line", status)
	return ""
}

func copyExecutable(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	Must(t, err)
	Must(t, os.WriteFile(to, b, 0o755))
}
