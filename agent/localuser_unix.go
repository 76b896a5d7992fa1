//go:build !windows

package agent

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
)

// currentLocalUser is the account running the agent.
func currentLocalUser() localUser { return localUserByUID(os.Getuid()) }

// lookupLocalUser is the local user named by nameOrUID: a user name or a
// numeric uid (--local-user).
func lookupLocalUser(nameOrUID string) (localUser, error) {
	if n, err := strconv.Atoi(nameOrUID); err == nil && n >= 0 {
		return localUserByUID(n), nil
	}
	u, err := user.Lookup(nameOrUID)
	if err != nil {
		return localUser{}, fmt.Errorf("--local-user %q: %w; give a user name or a numeric uid", nameOrUID, err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return localUser{}, fmt.Errorf("--local-user %q: uid %q is not a number on this system", nameOrUID, u.Uid)
	}
	return localUserByUID(uid), nil
}
