package sysservice

import (
	"context"
	"errors"
	"os"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/kardianos/service"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/internal/testenv"
)

func TestInstallingUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Setenv("SUDO_UID", "1000")
		if got := InstallingUser(); got != "" {
			t.Errorf("InstallingUser() not as root = %q, want \"\"", got)
		}
		testenv.SkipOrFail(t, "the sudo cases need root")
	}
	tests := []struct{ sudoUID, want string }{
		{"", ""},
		{"1000", "1000"},
		{"0", ""}, // sudo from root: no device user to take from it
		{"alice", ""},
		{"-5", ""},
	}
	for _, tt := range tests {
		t.Setenv("SUDO_UID", tt.sudoUID)
		if got := InstallingUser(); got != tt.want {
			t.Errorf("InstallingUser() with SUDO_UID=%q = %q, want %q", tt.sudoUID, got, tt.want)
		}
	}
}

func TestArguments(t *testing.T) {
	base := []string{"run", "--state-dir", StateDir, "--socket", localapi.ServiceSocket}
	tests := []struct {
		in   Options
		want []string
	}{
		{Options{}, base},
		{Options{LocalUser: "alice"}, append(slices.Clone(base), "--local-user", "alice")},
		{Options{TUN: true}, append(slices.Clone(base), "--tun")},
		{Options{LocalUser: "alice", TUN: true, TUNName: "gh1"}, append(slices.Clone(base), "--local-user", "alice", "--tun", "--tun-name", "gh1")},
		{Options{TUNName: "gh1"}, base}, // a name without TUN mode is no TUN mode
	}
	for _, tt := range tests {
		if got := Arguments(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("Arguments(%+v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestProgramStopEndsTheRun: the service manager's stop (Windows SCM,
// kardianos' Stop) cancels the agent's run and waits for it to end.
func TestProgramStopEndsTheRun(t *testing.T) {
	var ended atomic.Bool
	started := make(chan struct{})
	p := &program{parent: context.Background(), run: func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		ended.Store(true)
		return ctx.Err()
	}}
	if err := p.Start(nil); err != nil {
		t.Fatalf("Start() = %v", err)
	}
	<-started
	if err := p.Stop(nil); err != nil || !ended.Load() {
		t.Errorf("Stop() = %v with the run ended %v, want nil after the run ended", err, ended.Load())
	}
}

// TestRunInATerminalCallsRun: from a terminal (or a test) Run is a plain
// call of run with the caller's context.
func TestRunInATerminalCallsRun(t *testing.T) {
	if !service.Interactive() {
		t.Skip("this test runs under a service manager")
	}
	want := errors.New("ran")
	if got := Run(context.Background(), func(context.Context) error { return want }); got != want {
		t.Errorf("Run() = %v, want run's own error %v", got, want)
	}
}
