package main

import (
	"context"
	"errors"
	"log"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/gui"
	"github.com/gatehouse-ztna/gatehouse/gui/sni"
)

// runQuiet is the tray where gui/sni draws it (Linux with a tray host):
// no fyne driver in this process; each window is a child process
// (openWindow). A child ends when its window closes, or with the tray.
func runQuiet(ctx context.Context, socket string, source <-chan gui.State, agent *localapi.Client) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	log.Printf("gatehouse-tray: in the system tray (D-Bus); windows open as their own processes")
	return sni.Run(ctx, source, sni.Handlers{
		Open: func(w gui.Window) { openWindow(exe, socket, w) },
		SignOut: func() error {
			ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			return gui.LocalActions{Agent: agent}.SignOut(ctx)
		},
		Copy: copyText,
	})
}

// openWindow starts `gatehouse-tray --window w` and reaps it when it
// ends (a goroutine per child, ending with it).
func openWindow(exe, socket string, w gui.Window) {
	cmd := exec.Command(exe, "--socket", socket, "--window", string(w))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		log.Printf("gatehouse-tray: opening the %s window: %v", w, err)
		return
	}
	go func() {
		if err := cmd.Wait(); err != nil {
			log.Printf("gatehouse-tray: the %s window: %v", w, err)
		}
	}()
}

// clipboards are the programs copyText hands text to, in order: each
// keeps the selection in a process of its own after we return, which a
// tray without a window cannot (X11 and Wayland serve a copy from the
// copying process).
var clipboards = [][]string{
	{"wl-copy"},
	{"xclip", "-selection", "clipboard"},
	{"xsel", "--clipboard", "--input"},
}

// copyText puts text on the clipboard with the first clipboard program
// installed, or says which to install.
func copyText(text string) error {
	for _, c := range clipboards {
		if c[0] == "wl-copy" && os.Getenv("WAYLAND_DISPLAY") == "" {
			continue
		}
		if _, err := exec.LookPath(c[0]); err != nil {
			continue
		}
		cmd := exec.Command(c[0], c[1:]...)
		cmd.Stdin = strings.NewReader(text)
		return cmd.Run()
	}
	return errors.New("copying needs wl-copy, xclip or xsel (Debian: wl-clipboard, xclip or xsel); the address is " + text)
}
