package localapi

import (
	"context"
	"fmt"
	"net"
	"os/user"
	"strings"

	"github.com/Microsoft/go-winio"
	"golang.org/x/sys/windows"

	"github.com/gatehouse-ztna/gatehouse/agent/localpeer"
)

// StateSocket is the local API pipe of the agent whose state dir is dir,
// when not told otherwise (pipeName).
func StateSocket(dir string) string { return pipeName(dir) }

// dialAgent connects to the agent's named pipe at path, asking only to
// read and write data (localpeer.PipeClientAccess: what the pipe's ACL
// grants the device's user) at identification level, so that the agent
// can read who is calling but never act as them.
func dialAgent(ctx context.Context, path string) (net.Conn, error) {
	if !strings.HasPrefix(strings.ToLower(path), PipePrefix) {
		return nil, fmt.Errorf("local API %q: on Windows it is a named pipe; give --socket %sNAME", path, PipePrefix)
	}
	c, err := winio.DialPipeAccessImpLevel(ctx, path, localpeer.PipeClientAccess, winio.PipeImpLevelIdentification)
	if err != nil {
		return nil, err
	}
	if err := checkPipeServer(c, path); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// checkPipeServer refuses a pipe whose owner is not SYSTEM, an
// administrator or the caller (pipeServerTrusted).
func checkPipeServer(c net.Conn, path string) error {
	f, ok := c.(interface{ Fd() uintptr })
	if !ok {
		return fmt.Errorf("local API %s: %T is not a named pipe", path, c)
	}
	sd, err := windows.GetSecurityInfo(windows.Handle(f.Fd()), windows.SE_KERNEL_OBJECT, windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("local API %s: read who made the pipe: %w", path, err)
	}
	owner, _, err := sd.Owner()
	if err != nil || owner == nil {
		return fmt.Errorf("local API %s: the pipe names no owner (%v); not talking to it", path, err)
	}
	self := ""
	if u, err := user.Current(); err == nil {
		self = u.Uid
	}
	if !pipeServerTrusted(owner.String(), self) {
		return fmt.Errorf("local API %s is served by %s, not by SYSTEM, an administrator or you: not talking to it "+
			"(another program may hold the agent's name; restart the Gatehouse service)", path, owner)
	}
	return nil
}

// socketExists says whether a pipe named path is being served. It lists
// the pipe (FindFirstFile) rather than opening it, which would take one
// of the agent's pipe instances as a connection.
func socketExists(path string) bool {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return false
	}
	var data windows.Win32finddata
	h, err := windows.FindFirstFile(p, &data)
	if err != nil {
		return false
	}
	windows.FindClose(h)
	return true
}
