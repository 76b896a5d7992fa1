package localapi

import (
	"context"
	"fmt"
	"net"
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
	return winio.DialPipeAccessImpLevel(ctx, path, localpeer.PipeClientAccess, winio.PipeImpLevelIdentification)
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
