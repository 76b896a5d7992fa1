//go:build !windows

package sysservice

import (
	"os"
	"strconv"
)

// InstallingUser is the uid of who runs `sudo gatehouse service install`
// (SUDO_UID), as a string for --local-user, or "" when not through sudo.
func InstallingUser() string {
	if os.Getuid() != 0 {
		return ""
	}
	if n, err := strconv.Atoi(os.Getenv("SUDO_UID")); err == nil && n > 0 {
		return strconv.Itoa(n)
	}
	return ""
}
