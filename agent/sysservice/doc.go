// Package sysservice is the agent as a system service (systemd, launchd,
// the Windows service manager) through github.com/kardianos/service: the
// one service definition `gatehouse service install|uninstall|start|stop|
// status` installs and controls, and Run, which `gatehouse-agent run` goes
// through so the service manager can start and stop it.
//
// The service runs as root (LocalSystem on Windows), restarts on failure,
// keeps its state in StateDir (0700), serves the local API on
// localapi.ServiceSocket and logs to stderr (the journal under systemd).
//
// Imported by cmd/gatehouse and cmd/gatehouse-agent.
package sysservice
