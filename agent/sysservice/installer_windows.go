package sysservice

import "os/user"

// InstallingUser is the SID of who runs `gatehouse service install` (from
// an elevated prompt, still their own account), for --local-user: the
// local API's pipe then admits them besides SYSTEM and Administrators.
func InstallingUser() string {
	u, err := user.Current()
	if err != nil || u.Uid == "S-1-5-18" {
		return "" // SYSTEM installing: no device user to take from it
	}
	return u.Uid
}
