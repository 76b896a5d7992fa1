package agent

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/internal/testenv"
)

// TestLocalAPIAsCaller is not a test: TestLocalAPIRefusesOtherUsers runs
// the test binary under another uid with it, to call the agent's local API
// from that account and print what came back.
func TestLocalAPIAsCaller(t *testing.T) {
	sock := testenv.ChildInput(t, "TestLocalAPIRefusesOtherUsers")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := localapi.NewClient(sock).Status(ctx)
	if err != nil {
		fmt.Println("ERROR:", err)
		return
	}
	fmt.Println("OK: device", s.DeviceID)
}

// TestLocalAPIRefusesOtherUsers runs the agent as root (as the service
// does) serving local user 1000 on an open socket, and calls its local API
// as root, as uid 1000 and as nobody: nobody is refused with who the agent
// serves, by the agent's SO_PEERCRED check.
func TestLocalAPIRefusesOtherUsers(t *testing.T) {
	if os.Getuid() != 0 {
		testenv.SkipOrFail(t, "calling as other uids needs root")
	}
	run := t.TempDir() // stands for /run/gatehouse-agent's parent
	for _, dir := range []string{filepath.Dir(run), run} {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(run, "gatehouse-agent", "agent.sock")
	testAgentWith(t, func(c *Config) { c.Socket, c.LocalUser = sock, "1000" })
	// The test binary, where other accounts may run it.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(run, "agent.test")
	copyFile(t, self, bin)
	call := func(t *testing.T, uid uint32) string {
		cmd := testenv.Child(bin, "TestLocalAPIAsCaller", sock)
		cmd.Env = append(cmd.Env, "HOME=/")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("calling as uid %d: %v\n%s", uid, err, out)
		}
		return string(out)
	}
	tests := []struct {
		name string
		uid  uint32
		want string
	}{
		{"root", 0, "OK: device dev-1"},
		{"the device's user", 1000, "OK: device dev-1"},
		{"another user", 65534, "ERROR: this agent serves user " + localUserByUID(1000).name + "; you are " + localUserByUID(65534).name},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := call(t, tt.uid); !strings.Contains(got, tt.want) {
				t.Errorf("local API status as uid %d = %q, want %q", tt.uid, got, tt.want)
			}
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
