package agent

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
)

// EnrollingUID is the uid of the person enrolling this device: the user
// who ran sudo when enroll runs through it as root, else the caller.
// It is -1 where the system has no uids (Windows).
func EnrollingUID() int {
	uid := os.Getuid()
	if uid == 0 {
		if s := os.Getenv("SUDO_UID"); s != "" {
			if su, err := strconv.Atoi(s); err == nil && su >= 0 {
				return su
			}
		}
	}
	return uid
}

// localUser is the one local account whose connections the proxy ports
// serve.
type localUser struct {
	uid  int    // -1 on Windows
	name string // for messages: "alice (uid 1000)"
	// sid is the user's Windows security identifier (S-1-5-21-…), which
	// the local API's named pipe admits; empty elsewhere.
	sid string
}

// localUserByUID is the local user with uid, named for messages when the
// system knows the name.
func localUserByUID(uid int) localUser {
	name := fmt.Sprintf("uid %d", uid)
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		name = fmt.Sprintf("%s (uid %d)", u.Username, uid)
	}
	return localUser{uid: uid, name: name}
}
