//go:build !linux

package gui

// trayHost: macOS and Windows always have one (the menu bar, the
// notification area).
func trayHost() error { return nil }
