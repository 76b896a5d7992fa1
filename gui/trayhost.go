package gui

import (
	"errors"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
)

// Detect returns the app's system tray, or an error saying why the desktop
// has none (then the caller uses NewWindowed). fyne cannot tell: on Linux
// its tray (fyne.io/systray) registers a StatusNotifierItem on the session
// bus and only logs "systray error: failed to register" when no host is
// there, while the app runs on with nothing on screen; trayHost asks the
// bus itself.
func Detect(app fyne.App) (desktop.App, error) {
	desk, ok := app.(desktop.App)
	if !ok {
		return nil, errors.New("this build of the tray has no system tray support")
	}
	if err := trayHost(); err != nil {
		return nil, err
	}
	return desk, nil
}

// TrayHost reports whether the desktop has a system tray host, or why
// not, without a fyne app (the quiet tray, gui/sni, runs without one).
func TrayHost() error { return trayHost() }
