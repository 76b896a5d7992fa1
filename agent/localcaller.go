package agent

import (
	"net/http"
)

// callerKey keys who called the local API (callerID on unix, the pipe
// connection on Windows) in a connection's context.
type callerKey struct{}

// allowCaller serves a request only from the device's local user, root
// (SYSTEM, an elevated administrator) or the agent's own account; any
// other caller, or one the OS cannot name, is refused with who the agent
// serves (fail closed). See refuseCaller for each system.
func (a *Agent) allowCaller(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if msg := a.refuseCaller(r); msg != "" {
			http.Error(w, msg, http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}
