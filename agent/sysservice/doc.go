// Package sysservice is the agent as a system service (systemd, launchd,
// the Windows service manager) through github.com/kardianos/service: the
// one service definition `gatehouse service install|uninstall|start|stop|
// status` installs and controls, and Run, which `gatehouse-agent run` goes
// through so the service manager can start and stop it.
//
// The service runs as root (LocalSystem on Windows), restarts on failure,
// keeps its state in StateDir (0700), serves the local API on
// localapi.ServiceSocket (a named pipe on Windows) and logs to the OS's
// log (LogHandler): stderr, which is the journal under systemd, and the
// event log on Windows. Installed with TUN mode (Options.TUN), the
// systemd unit also grants CAP_NET_ADMIN as an ambient capability.
//
// Imported by cmd/gatehouse and cmd/gatehouse-agent.
package sysservice
