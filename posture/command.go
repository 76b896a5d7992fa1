package posture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// commandOutput is what one run of a system tool gave back.
type commandOutput struct {
	stdout, stderr string
	err            error // nil, a start failure, an exit status or the timeout
}

// runCommand runs the tool at the absolute path with args, never through a
// shell, killed after timeout. env, when not nil, replaces the
// environment. The macOS and Windows collectors use it; their parsers read
// the output whatever the exit status, since some tools (spctl) report
// "off" with a non-zero exit.
func runCommand(ctx context.Context, timeout time.Duration, env []string, path string, args ...string) commandOutput {
	return runCommandWith(ctx, timeout, env, nil, path, args...)
}

// runCommandWith is runCommand with prepare (when not nil) called on the
// command before it starts: to run it as another user, say.
func runCommandWith(ctx context.Context, timeout time.Duration, env []string, prepare func(*exec.Cmd), path string, args ...string) commandOutput {
	if !filepath.IsAbs(path) {
		return commandOutput{err: fmt.Errorf("%s is not an absolute path", path)}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = env
	cmd.WaitDelay = time.Second
	if prepare != nil {
		prepare(cmd)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %s", timeout)
	}
	return commandOutput{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// failure says why a run gave nothing usable: the error and the first line
// of stderr, which is where tools explain themselves.
func (o commandOutput) failure() string {
	var reason string
	var exit *exec.ExitError
	switch {
	case o.err == nil:
		reason = "exit status 0"
	case errors.As(o.err, &exit):
		reason = exit.Error()
	default:
		reason = o.err.Error()
	}
	if line, _, _ := strings.Cut(strings.TrimSpace(o.stderr), "\n"); line != "" {
		reason += ": " + strings.TrimSpace(line)
	}
	return reason
}
