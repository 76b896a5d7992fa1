//go:build unix

package keystore

import (
	"fmt"
	"os"
	"syscall"
)

// checkPrivate refuses a secret file or dir (info, at path) that has any
// permission beyond want's, or that another user than the one running
// the agent owns.
func checkPrivate(path string, info os.FileInfo, want os.FileMode) error {
	if perm := info.Mode().Perm(); perm&^want != 0 {
		return fmt.Errorf("%s has mode %#o, wider than %#o: others may have read or changed its secrets; "+
			"remove it, then enroll or sign in again", path, perm, want)
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: cannot tell its owner", path)
	}
	if uid := os.Geteuid(); int(st.Uid) != uid {
		return fmt.Errorf("%s is owned by uid %d, not by uid %d that runs the agent: "+
			"remove it, then enroll or sign in again as the agent's user", path, st.Uid, uid)
	}
	return nil
}
