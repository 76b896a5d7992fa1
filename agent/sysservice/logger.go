package sysservice

import (
	"context"
	"log/slog"
	"strings"
	"sync"

	"github.com/kardianos/service"
)

// logSink is shared by a handler and those derived from it: the service
// manager's logger, and the level of the record being written.
type logSink struct {
	log service.Logger

	mu    sync.Mutex // guards level while a record is formatted and sent
	level slog.Level
}

// Write sends one formatted record to the service logger at its level.
func (s *logSink) Write(p []byte) (int, error) {
	msg := strings.TrimRight(string(p), "\n")
	var err error
	switch {
	case s.level >= slog.LevelError:
		err = s.log.Error(msg)
	case s.level >= slog.LevelWarn:
		err = s.log.Warning(msg)
	default:
		err = s.log.Info(msg)
	}
	return len(p), err
}

// serviceHandler formats records as slog's text handler does and hands
// each to a kardianos service.Logger (the Windows event log) as an
// error, warning or information entry by its level.
type serviceHandler struct {
	sink  *logSink
	inner slog.Handler // writes to sink
}

// NewLogHandler is a slog handler writing to l, one entry per record.
func NewLogHandler(l service.Logger) slog.Handler {
	sink := &logSink{log: l}
	return &serviceHandler{sink: sink, inner: slog.NewTextHandler(sink, nil)}
}

func (h *serviceHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *serviceHandler) Handle(ctx context.Context, r slog.Record) error {
	h.sink.mu.Lock()
	defer h.sink.mu.Unlock()
	h.sink.level = r.Level
	return h.inner.Handle(ctx, r)
}

func (h *serviceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &serviceHandler{sink: h.sink, inner: h.inner.WithAttrs(as)}
}

func (h *serviceHandler) WithGroup(name string) slog.Handler {
	return &serviceHandler{sink: h.sink, inner: h.inner.WithGroup(name)}
}
