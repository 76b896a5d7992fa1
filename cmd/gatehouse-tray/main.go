// Command gatehouse-tray is the employee's tray app: whether they are
// connected and compliant, why access is cut and how to fix it, sign-in,
// just-in-time requests and notifications. It talks only to the local
// agent's API (agent/localapi); it holds no keys and never talks to the
// controller. The only cgo binary (fyne).
//
//	gatehouse-tray [--socket PATH]
//	gatehouse-tray --install-autostart [--socket PATH]
//	gatehouse-tray --remove-autostart
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/gui"
	"github.com/gatehouse-ztna/gatehouse/gui/autostart"
	"github.com/gatehouse-ztna/gatehouse/gui/instance"
)

func main() {
	socket := flag.String("socket", "", "the agent's local API socket (default: your own agent's if it runs, else the system service's)")
	install := flag.Bool("install-autostart", false, "start the tray at every login of this user, then exit")
	remove := flag.Bool("remove-autostart", false, "stop starting the tray at login, then exit")
	flag.Parse()
	if err := mainErr(*socket, *install, *remove); err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse-tray:", err)
		os.Exit(1)
	}
}

func mainErr(socket string, install, remove bool) error {
	switch {
	case install:
		return installAutostart(socket)
	case remove:
		where, err := autostart.Remove()
		if err == nil {
			fmt.Println("removed", where)
		}
		return err
	}
	dir, err := instance.Dir()
	if err != nil {
		return err
	}
	lock, err := instance.Acquire(dir)
	if err != nil {
		return err
	}
	defer lock.Release()

	if socket == "" {
		socket = localapi.FindSocket()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	agent := localapi.NewClient(socket)
	log.Printf("gatehouse-tray: following the agent on %s", socket)
	return run(ctx, states(ctx, agent), gui.LocalActions{Agent: agent})
}

func installAutostart(socket string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this program's path for the autostart entry: %w", err)
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return fmt.Errorf("finding this program's path for the autostart entry: %w", err)
	}
	var args []string
	if socket != "" {
		abs, err := filepath.Abs(socket)
		if err != nil {
			return err
		}
		args = []string{"--socket", abs}
	}
	where, err := autostart.Install(exe, args...)
	if errors.Is(err, autostart.ErrUnsupported) {
		return err
	}
	if err != nil {
		return fmt.Errorf("writing the autostart entry: %w", err)
	}
	fmt.Println("gatehouse-tray will start at your next login:", where)
	return nil
}
