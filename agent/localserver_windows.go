package agent

import (
	"fmt"
	"net"
	"strings"

	"github.com/Microsoft/go-winio"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/agent/localpeer"
)

// listenLocalAPI listens on the named pipe path (\\.\pipe\NAME) with a
// DACL that admits only SYSTEM, Administrators, the agent's own account
// and the device's user (localpeer.PipeSDDL); allowCaller then checks
// each caller's token too. go-winio creates the pipe exclusively (a pipe
// of that name made first by someone else fails the start) and refuses
// remote clients.
func (a *Agent) listenLocalAPI(path string) (net.Listener, error) {
	if !strings.HasPrefix(strings.ToLower(path), localapi.PipePrefix) {
		return nil, fmt.Errorf("local API %q: on Windows it is a named pipe; give --socket %sNAME", path, localapi.PipePrefix)
	}
	self := currentLocalUser()
	user := a.localUser.sid
	if user == "" {
		user = self.sid // no device user known: the agent's account alone
	}
	sddl, err := localpeer.PipeSDDL(user, self.sid)
	if err != nil {
		return nil, fmt.Errorf("local API pipe %s: %w", path, err)
	}
	l, err := winio.ListenPipe(path, &winio.PipeConfig{SecurityDescriptor: sddl})
	if err != nil {
		return nil, fmt.Errorf("local API pipe %s: %w (is another agent running?)", path, err)
	}
	return l, nil
}
