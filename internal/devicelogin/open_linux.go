package devicelogin

import "os"

// open opens page with xdg-open, when a desktop session (X11 or
// Wayland) is there to show it.
func open(page string) error {
	if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		return errNoDesktop
	}
	return start("xdg-open", page)
}
