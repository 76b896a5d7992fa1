package sysservice

// systemdScript is the unit `gatehouse service install` writes (kardianos'
// template syntax; packaging/systemd/gatehouse-agent.service is it rendered
// for /usr/bin/gatehouse-agent, checked by a test). Root (no User=),
// restarted on failure, state in /var/lib/gatehouse-agent (0700), the
// socket's dir /run/gatehouse-agent (0755: the agent checks each caller),
// stderr to the journal.
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
