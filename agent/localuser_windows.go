package agent

import (
	"fmt"
	"os/user"
	"strings"
)

// currentLocalUser is the account running the agent (LocalSystem for the
// service, which then serves only SYSTEM and administrators until it is
// given --local-user).
func currentLocalUser() localUser {
	u, err := user.Current()
	if err != nil {
		return localUser{uid: -1, name: "the agent's own account"}
	}
	return windowsUser(u)
}

// lookupLocalUser is the local user named by nameOrSID: an account name
// (alice, DOMAIN\alice) or a SID (S-1-5-21-…), as `gatehouse service
// install` records it.
func lookupLocalUser(nameOrSID string) (localUser, error) {
	lookup := user.Lookup
	if strings.HasPrefix(strings.ToUpper(nameOrSID), "S-1-") {
		lookup = user.LookupId
	}
	u, err := lookup(nameOrSID)
	if err != nil {
		return localUser{}, fmt.Errorf("--local-user %q: %w; give an account name (DOMAIN\\user) or a SID", nameOrSID, err)
	}
	return windowsUser(u), nil
}

// windowsUser is u as the agent keeps it: os/user gives the SID as Uid.
func windowsUser(u *user.User) localUser {
	return localUser{uid: -1, sid: u.Uid, name: fmt.Sprintf("%s (%s)", u.Username, u.Uid)}
}
