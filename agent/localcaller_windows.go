package agent

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"

	"github.com/gatehouse-ztna/gatehouse/agent/localpeer"
)

// pipeCaller is the named pipe connection's caller, read once from its
// token after the first request arrived (Windows names the client of
// the last message read).
type pipeCaller struct {
	conn   net.Conn
	once   sync.Once
	caller localpeer.PipeCaller
	err    error
}

// callerContext keeps the connection for refuseCaller
// (http.Server.ConnContext).
func callerContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, callerKey{}, &pipeCaller{conn: c})
}

// refuseCaller says why r's caller may not use the local API, or "" when
// it may (pipeCallerAllowed). The pipe's ACL keeps others out already;
// this is the same rule checked on the caller's token.
func (a *Agent) refuseCaller(r *http.Request) string {
	pc, ok := r.Context().Value(callerKey{}).(*pipeCaller)
	if !ok {
		return fmt.Sprintf("this agent serves user %s; it could not tell who you are", a.localUser.name)
	}
	pc.once.Do(func() { pc.caller, pc.err = localpeer.PipeClient(pc.conn) })
	if pc.err != nil {
		a.log.Warn("local API caller refused: Windows did not name it", "err", pc.err)
		return fmt.Sprintf("this agent serves user %s; it could not tell who you are (%v)", a.localUser.name, pc.err)
	}
	if !pipeCallerAllowed(pc.caller, a.localUser.sid, currentLocalUser().sid) {
		a.log.Warn("local API caller refused: not the device's user", "caller_sid", pc.caller.SID, "local_user", a.localUser.name)
		return fmt.Sprintf("this agent serves user %s; you are %s: run gatehouse as %s (or as an administrator, elevated)",
			a.localUser.name, sidName(pc.caller.SID), a.localUser.name)
	}
	return ""
}

// sidName is the account of sid for messages, or the SID itself.
func sidName(sid string) string {
	if u, err := lookupLocalUser(sid); err == nil {
		return u.name
	}
	return sid
}

// callerUID is -1 on Windows: callers are SIDs, not uids, so every
// watcher counts against one cap (the pipe's ACL admits only the device's
// user, administrators and SYSTEM).
func callerUID(context.Context) int { return -1 }
