package main

import (
	"context"

	"fyne.io/fyne/v2/app"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/gui"
)

// windows are the windows --window opens.
var windows = []gui.Window{gui.WindowPosture, gui.WindowApps, gui.WindowSignIn}

// runWindow is a window child (--window): fyne with one window, following
// the agent's watch stream itself, until the window closes. It runs
// under the window's lock, not the tray's (acquire).
func runWindow(ctx context.Context, agent *localapi.Client, w gui.Window) error {
	a := app.NewWithID(appID)
	a.SetIcon(gui.Icon(gui.LookSignedOut))
	t := gui.NewWindowChild(ctx, a, gui.Options{Actions: gui.LocalActions{Agent: agent}})
	var openErr error
	done := follow(ctx, a, states(ctx, agent), t, func() {
		if openErr = t.Open(w); openErr != nil {
			a.Quit()
		}
	})
	defer done()
	a.Run()
	return openErr
}
