// Command gatehouse-tray is the employee's tray app: whether they are
// connected and compliant, why access is cut and how to fix it, sign-in,
// just-in-time requests and notifications. It talks only to the local
// agent's API (agent/localapi); it holds no keys and never talks to the
// controller. The only cgo binary (fyne).
//
// On Linux with a tray host, the tray process draws its icon and menu
// over D-Bus without fyne's driver (gui/sni), so it sleeps while nothing
// changes; each window opens in a child process of the same binary
// (--window), which follows the agent itself and exits when its window
// closes. Without a tray host, and on macOS and Windows, the tray is
// fyne's, windows included, in one process.
//
//	gatehouse-tray [--socket PATH]
//	gatehouse-tray --window posture|apps|signin [--socket PATH]
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
	"slices"
	"syscall"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/gui"
	"github.com/gatehouse-ztna/gatehouse/gui/autostart"
	"github.com/gatehouse-ztna/gatehouse/gui/instance"
	"github.com/gatehouse-ztna/gatehouse/gui/sni"
)

func main() {
	socket := flag.String("socket", "", "the agent's local API socket (default: your own agent's if it runs, else the system service's)")
	install := flag.Bool("install-autostart", false, "start the tray at every login of this user, then exit")
	remove := flag.Bool("remove-autostart", false, "stop starting the tray at login, then exit")
	window := flag.String("window", "", "show only this window (posture, apps or signin) and exit when it closes: the tray starts these")
	flag.Parse()
	if err := mainErr(*socket, *install, *remove, *window); err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse-tray:", err)
		os.Exit(1)
	}
}

func mainErr(socket string, install, remove bool, window string) error {
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
	if socket == "" {
		socket = localapi.FindSocket()
	}
	lock, err := acquire(dir, gui.Window(window))
	if window != "" && errors.Is(err, instance.ErrRunning) {
		log.Printf("gatehouse-tray: the %s window is already open", window)
		return nil
	}
	if err != nil {
		return err
	}
	defer lock.Release()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	agent := localapi.NewClient(socket)
	if window != "" {
		return runWindow(ctx, agent, gui.Window(window))
	}
	log.Printf("gatehouse-tray: following the agent on %s", socket)
	if sni.Supported {
		if err := gui.TrayHost(); err == nil {
			return runQuiet(ctx, socket, states(ctx, agent), agent)
		}
	}
	return run(ctx, states(ctx, agent), gui.LocalActions{Agent: agent})
}

// acquire takes the tray's lock (one tray per user), or for a window
// child (w not empty) that window's own: the tray holds its lock while
// its windows run, and a window is open at most once.
func acquire(dir string, w gui.Window) (*instance.Lock, error) {
	if w == "" {
		return instance.Acquire(dir)
	}
	if !slices.Contains(windows, w) {
		return nil, fmt.Errorf("no window %q: want one of %v", w, windows)
	}
	return instance.AcquireWindow(dir, string(w))
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
