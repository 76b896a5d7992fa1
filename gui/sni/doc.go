// Package sni is the tray on Linux without fyne's driver: the icon and
// menu as a StatusNotifierItem over D-Bus (fyne.io/systray, pure Go on
// Linux) and desktop notifications straight to
// org.freedesktop.Notifications. fyne's GLFW driver ticks at 60 Hz while
// it runs, window or not; this tray blocks on the State stream and the
// session bus, so while nothing changes the process sleeps. Windows are
// the caller's (cmd/gatehouse-tray opens each in a child process).
// Elsewhere (macOS needs cgo for systray; Windows keeps fyne's tray)
// Supported is false and the caller runs the fyne tray.
//
// Imported by cmd/gatehouse-tray.
package sni
