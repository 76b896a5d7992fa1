package sysservice

import "strings"

// systemdScript is the unit `gatehouse service install` writes (kardianos'
// template syntax; packaging/systemd/gatehouse-agent.service is it rendered
// for /usr/bin/gatehouse-agent, checked by a test). Root (no User=),
// restarted on failure, state in /var/lib/gatehouse-agent (0700), the
// socket's dir /run/gatehouse-agent (0755: the agent checks each caller),
// stderr to the journal.
//
// kardianos' systemd backend has no logger of its own to wire: the
// agent's slog lines on stderr reach the journal (StandardError defaults
// to journal), tagged with the unit.
const systemdScript = `[Unit]
Description={{Description}}
After=network-online.target
Wants=network-online.target

[Service]
ExecStart={{Path | cmdEscape}}{{range Arguments}} {{.}}{{end}}
StateDirectory=gatehouse-agent
StateDirectoryMode=0700
RuntimeDirectory=gatehouse-agent
RuntimeDirectoryMode=0755
Restart=on-failure
RestartSec=2

[Install]
WantedBy=multi-user.target
`

// tunUnitLines are added to the unit of an agent installed with --tun.
// Creating the TUN interface, its routes and its uid rule needs
// CAP_NET_ADMIN. The unit runs as root, whose bounding set (left at
// systemd's default, all) includes it; AmbientCapabilities grants it
// too if a drop-in runs the agent as another User=.
const tunUnitLines = `# TUN mode (--tun): the interface, its routes and the uid rule need CAP_NET_ADMIN.
AmbientCapabilities=CAP_NET_ADMIN
`

// systemdScriptFor is the unit for o: systemdScript, with tunUnitLines
// when the agent runs in TUN mode.
func systemdScriptFor(o Options) string {
	if !o.TUN {
		return systemdScript
	}
	return strings.Replace(systemdScript, "Restart=on-failure\n", tunUnitLines+"Restart=on-failure\n", 1)
}
