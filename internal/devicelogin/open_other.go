//go:build !linux && !darwin && !windows

package devicelogin

// open has no launcher to use here.
func open(string) error { return errNoDesktop }
