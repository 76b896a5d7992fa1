package agent

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/gatehouse-ztna/gatehouse/agent/localpeer"
)

// callerKey keys the local API caller's uid (a callerID) in a
// connection's context.
type callerKey struct{}

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

// allowCaller serves a request only from the device's local user, root or
// the agent's own account; any other caller, or one the kernel cannot
// name, is refused with who the agent serves (fail closed). Where the
// kernel cannot name callers the socket's 0600 mode is the check.
func (a *Agent) allowCaller(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !localpeer.UnixOwnerChecked {
			next.ServeHTTP(w, r)
			return
		}
		id, _ := r.Context().Value(callerKey{}).(callerID)
		if id.err != nil {
			a.log.Warn("local API caller refused: the kernel did not name it", "err", id.err)
			http.Error(w, fmt.Sprintf("this agent serves user %s; it could not tell who you are (%v)", a.localUser.name, id.err), http.StatusForbidden)
			return
		}
		if id.uid != 0 && id.uid != a.localUser.uid && id.uid != os.Getuid() {
			a.log.Warn("local API caller refused: not the device's user", "caller_uid", id.uid, "local_user", a.localUser.name)
			http.Error(w, fmt.Sprintf("this agent serves user %s; you are %s: run gatehouse as %s (or as root)",
				a.localUser.name, localUserByUID(id.uid).name, a.localUser.name), http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}
