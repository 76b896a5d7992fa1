package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/internal/testenv"
)

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// binaries builds the real gatehouse, gatehouse-agent and
// gatehouse-controller once per test run and returns their dir.
func binaries(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "gatehouse-bin"); binErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", binDir+"/", "../cmd/gatehouse", "../cmd/gatehouse-agent",
			"../cmd/gatehouse-controller", "../cmd/gatehouse-gateway").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("%v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatalf("build binaries: %v", binErr)
	}
	return binDir
}

// proc is a binary the test started; Cleanup stops it.
type proc struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr *testenv.Buffer
	done           chan struct{}
}

// startProc runs argv with env added to the test's environment, its
// output captured, and stops it (SIGTERM, then SIGKILL) when the test ends.
func startProc(t testing.TB, env []string, argv ...string) *proc {
	t.Helper()
	p := &proc{name: filepath.Base(argv[0]), cmd: exec.Command(argv[0], argv[1:]...),
		stdout: &testenv.Buffer{}, stderr: &testenv.Buffer{}, done: make(chan struct{})}
	p.cmd.Env = append(cleanEnv(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", argv, err)
	}
	go func() {
		p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%v\nstdout:\n%s\nstderr:\n%s", argv, p.stdout, p.stderr)
		}
	})
	return p
}

// awaitLine waits for a line of stdout starting with prefix and returns it.
func (p *proc) awaitLine(t testing.TB, prefix string, within time.Duration) string {
	t.Helper()
	var line string
	Eventually(t, within, func() error {
		for l := range strings.Lines(p.stdout.String()) {
			if strings.HasPrefix(l, prefix) {
				line = strings.TrimSpace(l)
				return nil
			}
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited (%v) before printing %q\nstdout:\n%s\nstderr:\n%s", p.name, p.cmd.ProcessState, prefix, p.stdout, p.stderr)
		default:
		}
		return fmt.Errorf("%s has not printed %q yet", p.name, prefix)
	})
	return line
}

// awaitLog waits until p has logged a line containing substr on stderr.
func (p *proc) awaitLog(t testing.TB, substr string, within time.Duration) {
	t.Helper()
	Eventually(t, within, func() error {
		if strings.Contains(p.stderr.String(), substr) {
			return nil
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited (%v) before logging %q\nstderr:\n%s", p.name, p.cmd.ProcessState, substr, p.stderr)
		default:
		}
		return fmt.Errorf("%s has not logged %q yet", p.name, substr)
	})
}

// cleanEnv is the test's environment without the Gatehouse variables, so
// that only what a test sets reaches the binaries.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEHOUSE_") {
			env = append(env, kv)
		}
	}
	return env
}

// runCmd runs argv to the end (at most a minute) with env and reports its
// combined output; wantErr says whether it must fail.
func runCmd(t testing.TB, env []string, wantErr bool, argv ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(cleanEnv(), env...)
	out, err := cmd.CombinedOutput()
	if (err != nil) != wantErr {
		t.Fatalf("%s: err = %v, want error %v\n%s", strings.Join(argv, " "), err, wantErr, out)
	}
	return string(out)
}

// passwordFile writes OwnerPassword to a 0600 file in dir for
// `gatehouse admin bootstrap --password-file`.
func passwordFile(t testing.TB, dir string) string {
	t.Helper()
	f := filepath.Join(dir, "owner-password")
	Must(t, os.WriteFile(f, []byte(OwnerPassword+"\n"), 0o600))
	return f
}

// privateTree fails the test unless every dir under root is 0700 and
// every file 0600.
func privateTree(t *testing.T, root string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s mode = %04o, want %04o", path, got, want)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Errorf("%s holds %d entries, want the data dir with its database, keys and certificates", root, n)
	}
}
