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
	uid  int
	name string // for messages: "alice (uid 1000)"
}

// resolveLocalUser picks the local user: flag (a user name or a numeric
// uid) when given, else the uid recorded at enrollment, else the uid
// running the agent.
func resolveLocalUser(flag string, recorded *int) (localUser, error) {
	uid := os.Getuid()
	switch {
	case flag != "":
		if n, err := strconv.Atoi(flag); err == nil && n >= 0 {
			uid = n
			break
		}
		u, err := user.Lookup(flag)
		if err != nil {
			return localUser{}, fmt.Errorf("--local-user %q: %w; give a user name or a numeric uid", flag, err)
		}
		if uid, err = strconv.Atoi(u.Uid); err != nil {
			return localUser{}, fmt.Errorf("--local-user %q: uid %q is not a number on this system", flag, u.Uid)
		}
	case recorded != nil:
		uid = *recorded
	}
	name := fmt.Sprintf("uid %d", uid)
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		name = fmt.Sprintf("%s (uid %d)", u.Username, uid)
	}
	return localUser{uid: uid, name: name}, nil
}
