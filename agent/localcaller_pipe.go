package agent

import "github.com/gatehouse-ztna/gatehouse/agent/localpeer"

// pipeCallerAllowed says whether the named pipe's caller may use the
// local API: the device's user (userSID), SYSTEM, an elevated
// administrator or the agent's own account (selfSID) — the same rule as
// root and uids on unix. An empty SID is nobody.
func pipeCallerAllowed(c localpeer.PipeCaller, userSID, selfSID string) bool {
	switch {
	case c.SID == "":
		return false
	case c.Admin, c.SID == localpeer.SIDSystem:
		return true
	}
	return c.SID == userSID || c.SID == selfSID
}
