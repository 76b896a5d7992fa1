package sysservice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/kardianos/service"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
)

// Name is the service's name with the service manager (the systemd unit
// gatehouse-agent.service).
const Name = "gatehouse-agent"

// Options are what an install may choose.
type Options struct {
	// Executable is the absolute path of gatehouse-agent.
	Executable string
	// LocalUser is the device's local user (name or uid) the service
	// serves; empty leaves it to the agent (who enrolled).
	LocalUser string
	// TUN runs the agent in TUN mode too (--tun), on the interface
	// TUNName (empty: the agent's default).
	TUN     bool
	TUNName string
}

// Arguments are the service's command line after the executable: the
// foreground run with the service's state dir and socket.
func Arguments(o Options) []string {
	args := []string{"run", "--state-dir", StateDir, "--socket", localapi.ServiceSocket}
	if o.LocalUser != "" {
		args = append(args, "--local-user", o.LocalUser)
	}
	if o.TUN {
		args = append(args, "--tun")
		if o.TUNName != "" {
			args = append(args, "--tun-name", o.TUNName)
		}
	}
	return args
}

// Config is the service definition. No UserName: root on Linux and macOS,
// LocalSystem on Windows, since the agent needs the machine's keys and
// (TUN mode) its network.
func Config(o Options) *service.Config {
	return &service.Config{
		Name:        Name,
		DisplayName: "Gatehouse agent",
		Description: "Gatehouse device agent (posture, per-app tunnels)",
		Executable:  o.Executable,
		Arguments:   Arguments(o),
		Option: service.KeyValue{
			"SystemdScript": systemdScriptFor(o),
			"KeepAlive":     true, // launchd restarts it
			"RunAtLoad":     true,
			"LogOutput":     true, // launchd: stderr to /var/log/gatehouse-agent.err
			"OnFailure":     "restart",
			"StartType":     "automatic",
		},
	}
}

// New is the installed service, for install, uninstall, start, stop and
// status.
func New(o Options) (service.Service, error) {
	s, err := service.New(&program{}, Config(o))
	if err != nil {
		return nil, fmt.Errorf("no service manager found on this system (%w); run gatehouse-agent run in the foreground instead", err)
	}
	return s, nil
}

// DefaultExecutable is gatehouse-agent next to the running binary.
func DefaultExecutable() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find this program: %w; give --agent PATH", err)
	}
	p := filepath.Join(filepath.Dir(self), "gatehouse-agent"+exeSuffix)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("gatehouse-agent not found next to %s; give --agent PATH", self)
	}
	return p, nil
}

// StatusText says a service status in words.
func StatusText(st service.Status, err error) string {
	switch {
	case errors.Is(err, service.ErrNotInstalled):
		return "not installed"
	case err != nil:
		return "unknown: " + err.Error()
	case st == service.StatusRunning:
		return "running"
	case st == service.StatusStopped:
		return "stopped"
	}
	return "unknown"
}

// Run runs the agent (run, until its context ends): directly in a
// terminal, else under the service manager, which stops it through
// kardianos (Windows needs that; systemd and launchd send SIGTERM, which
// ends ctx too).
func Run(ctx context.Context, run func(context.Context) error) error {
	if service.Interactive() {
		return run(ctx)
	}
	p := &program{run: run, parent: ctx}
	c := Config(Options{})
	// systemd and launchd: stop when ctx ends (main's SIGTERM), not on a
	// second signal handler of kardianos'.
	c.Option["RunWait"] = func() { <-ctx.Done() }
	s, err := service.New(p, c)
	if err != nil {
		return run(ctx)
	}
	if err := s.Run(); err != nil {
		return err
	}
	return p.err
}

// program is the kardianos Interface around the agent's run.
type program struct {
	run    func(context.Context) error
	parent context.Context

	mu     sync.Mutex // guards cancel, done and err
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func (p *program) Start(s service.Service) error {
	if p.run == nil {
		return nil // control only (install, status): nothing runs here
	}
	ctx, cancel := context.WithCancel(p.parent)
	done := make(chan struct{})
	p.mu.Lock()
	p.cancel, p.done = cancel, done
	p.mu.Unlock()
	go func() {
		defer close(done)
		err := p.run(ctx)
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			// A failure, not a stop: say so in the OS's log (on
			// Windows stderr goes nowhere) and exit non-zero so the
			// manager restarts the agent.
			slog.New(LogHandler(os.Stderr)).Error("gatehouse-agent stopped; the service manager restarts it", "err", err)
			os.Exit(1)
		}
	}()
	return nil
}

func (p *program) Stop(s service.Service) error {
	p.mu.Lock()
	cancel, done := p.cancel, p.done
	p.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	return nil
}
