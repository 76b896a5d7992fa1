//go:build !windows

package agent

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/gatehouse-ztna/gatehouse/agent/localpeer"
)

// callerID is who connected to the local API socket: the kernel's uid, or
// why it could not be found.
type callerID struct {
	uid int
	err error
}

// callerContext records the connection's caller as the kernel names it,
// once per connection (http.Server.ConnContext).
func callerContext(ctx context.Context, c net.Conn) context.Context {
	id := callerID{uid: -1, err: localpeer.ErrUnsupported}
	if uc, ok := c.(*net.UnixConn); ok && localpeer.UnixOwnerChecked {
		id.uid, id.err = localpeer.UnixOwner(uc)
	}
	return context.WithValue(ctx, callerKey{}, id)
}

// refuseCaller says why r's caller may not use the local API, or "" when
// it may: the device's local user, root or the agent's own uid. Where the
// kernel cannot name callers the socket's 0600 mode is the check.
func (a *Agent) refuseCaller(r *http.Request) string {
	if !localpeer.UnixOwnerChecked {
		return ""
	}
	id, ok := r.Context().Value(callerKey{}).(callerID)
	if !ok {
		id.err = localpeer.ErrUnsupported // never recorded: refuse
	}
	if id.err != nil {
		a.log.Warn("local API caller refused: the kernel did not name it", "err", id.err)
		return fmt.Sprintf("this agent serves user %s; it could not tell who you are (%v)", a.localUser.name, id.err)
	}
	if id.uid != 0 && id.uid != a.localUser.uid && id.uid != os.Getuid() {
		a.log.Warn("local API caller refused: not the device's user", "caller_uid", id.uid, "local_user", a.localUser.name)
		return fmt.Sprintf("this agent serves user %s; you are %s: run gatehouse as %s (or as root)",
			a.localUser.name, localUserByUID(id.uid).name, a.localUser.name)
	}
	return ""
}

// callerUID is the local API caller's uid, or -1 where the kernel does
// not name callers (there the socket's mode admits only the agent's
// account, and every watcher counts against one cap).
func callerUID(ctx context.Context) int {
	id, ok := ctx.Value(callerKey{}).(callerID)
	if !ok || id.err != nil {
		return -1
	}
	return id.uid
}
