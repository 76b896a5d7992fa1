package localpeer

import (
	"fmt"
	"regexp"
	"strings"
)

// Well-known Windows security identifiers.
const (
	SIDSystem         = "S-1-5-18"     // LocalSystem, the service's account
	SIDAdministrators = "S-1-5-32-544" // BUILTIN\Administrators
)

// PipeClientAccess is what the local API's client asks of the named pipe
// and what the device's user is granted on it: read, and write data.
// Not FILE_APPEND_DATA, which on a pipe is the right to create another
// instance of it: a user with that could serve a pipe instance of their
// own under the agent's name and read what an administrator's CLI sends.
const PipeClientAccess = 0x00120089 | 0x2 // FILE_GENERIC_READ | FILE_WRITE_DATA

// sidPattern is a SID in string form (S-1-5-21-…): digits and dashes
// only, so nothing in it can end an ACE or add one to the SDDL.
var sidPattern = regexp.MustCompile(`^S-1-[0-9]+(-[0-9]+)+$`)

// PipeSDDL is the security descriptor of the local API's named pipe: a
// protected DACL (nothing inherited) granting full access to SYSTEM,
// Administrators and the agent's own account (serverSID, which creates
// the pipe's instances), and read/write of data to the device's user
// (userSID). Everyone else has no entry and is denied by Windows before
// the agent sees them; the agent checks each caller's token as well.
func PipeSDDL(userSID, serverSID string) (string, error) {
	for _, s := range []struct{ what, sid string }{{"the device's user", userSID}, {"the agent's account", serverSID}} {
		if !sidPattern.MatchString(s.sid) {
			return "", fmt.Errorf("%s: %q is not a Windows SID (S-1-5-21-…); give --local-user as a user name or SID", s.what, s.sid)
		}
	}
	var b strings.Builder
	b.WriteString("D:P")
	fmt.Fprintf(&b, "(A;;GA;;;%s)(A;;GA;;;%s)", SIDSystem, SIDAdministrators)
	if serverSID != SIDSystem && serverSID != SIDAdministrators {
		fmt.Fprintf(&b, "(A;;GA;;;%s)", serverSID)
	}
	if userSID != serverSID && userSID != SIDSystem && userSID != SIDAdministrators {
		fmt.Fprintf(&b, "(A;;0x%x;;;%s)", PipeClientAccess, userSID)
	}
	return b.String(), nil
}

// PipeCaller is who is at the other end of a named pipe connection, from
// the token Windows hands the server for it.
type PipeCaller struct {
	SID string // the token's user
	// Admin says the token is a member of Administrators with the group
	// enabled: an elevated administrator, not a filtered UAC token.
	Admin bool
}
