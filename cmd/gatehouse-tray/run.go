package main

import (
	"context"
	"log"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/app"

	"github.com/gatehouse-ztna/gatehouse/gui"
)

// appID names the app to the desktop (notifications, preferences).
const appID = "io.gatehouse.tray"

// run is the tray: it builds the fyne app, puts it in the system tray (or a
// window where the desktop has none), shows every State from source as it
// arrives, and returns when the user quits, ctx ends or source closes. It
// never polls: source is the agent's watch stream.
func run(ctx context.Context, source <-chan gui.State, actions gui.Actions) error {
	a := app.NewWithID(appID)
	a.SetIcon(gui.Icon(gui.LookSignedOut)) // the neutral look: notifications and windows carry it whatever the state
	opts := gui.Options{Actions: actions}
	var t *gui.Tray
	if desk, err := gui.Detect(a); err == nil {
		t = gui.NewTray(ctx, a, desk, opts)
	} else {
		log.Printf("gatehouse-tray: no system tray (%v): showing a window instead", err)
		t = gui.NewWindowed(ctx, a, err.Error(), opts)
	}

	stop := follow(ctx, a, source, t, nil)
	defer stop()
	a.Run()
	return nil
}

// follow hands every State from source to t until ctx ends or source
// closes, then quits a; first (if any) runs on the fyne goroutine after
// the first State is shown. Call the returned stop when the app has
// stopped.
func follow(ctx context.Context, a fyne.App, source <-chan gui.State, t *gui.Tray, first func()) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	// Owned by the caller through stop: it ends with ctx (cancelled when the app stops) or
	// with the stream. fyne catches SIGINT and SIGTERM itself and quits;
	// run then returns without waiting for this goroutine, which may be
	// handing fyne a last Update or Quit that a stopped app never takes
	// (waiting for it hangs the exit), and the process ends.
	go func() {
		for {
			select {
			case <-ctx.Done():
				fyne.Do(a.Quit)
				return
			case s, ok := <-source:
				if !ok {
					fyne.Do(a.Quit)
					return
				}
				t.Update(s)
				if first != nil {
					fyne.Do(first)
					first = nil
				}
			}
		}
	}()
	return cancel
}
