package sysservice

import (
	"io"
	"log/slog"

	"github.com/kardianos/service"
)

// LogHandler is where the agent logs: under the service manager, the
// Windows event log (source gatehouse-agent, registered by install),
// where a service's stderr would go nowhere; in a terminal, stderr.
func LogHandler(stderr io.Writer) slog.Handler {
	if service.Interactive() {
		return slog.NewTextHandler(stderr, nil)
	}
	s, err := service.New(&program{}, Config(Options{}))
	if err != nil {
		return slog.NewTextHandler(stderr, nil)
	}
	l, err := s.SystemLogger(nil)
	if err != nil {
		return slog.NewTextHandler(stderr, nil)
	}
	return NewLogHandler(l)
}
