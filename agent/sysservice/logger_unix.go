//go:build !windows

package sysservice

import (
	"io"
	"log/slog"
)

// LogHandler is where the agent logs: stderr, which systemd sends to the
// journal and launchd to /var/log/gatehouse-agent.err (LogOutput).
func LogHandler(stderr io.Writer) slog.Handler { return slog.NewTextHandler(stderr, nil) }
