package sysservice

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// recordingLogger is a service.Logger keeping what it was given.
type recordingLogger struct {
	mu      sync.Mutex
	entries []string // "level: message"
}

func (r *recordingLogger) add(level string, v ...any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, level+": "+fmt.Sprint(v...))
	return nil
}
func (r *recordingLogger) Error(v ...any) error   { return r.add("error", v...) }
func (r *recordingLogger) Warning(v ...any) error { return r.add("warning", v...) }
func (r *recordingLogger) Info(v ...any) error    { return r.add("info", v...) }
func (r *recordingLogger) Errorf(f string, a ...any) error {
	return r.add("error", fmt.Sprintf(f, a...))
}
func (r *recordingLogger) Warningf(f string, a ...any) error {
	return r.add("warning", fmt.Sprintf(f, a...))
}
func (r *recordingLogger) Infof(f string, a ...any) error { return r.add("info", fmt.Sprintf(f, a...)) }

func TestLogHandlerSendsEachRecordAtItsLevel(t *testing.T) {
	rec := &recordingLogger{}
	log := slog.New(NewLogHandler(rec)).With("component", "agent")
	log.Info("agent running", "socket", `\\.\pipe\gatehouse-agent`)
	log.Warn("local API caller refused", "caller_sid", "S-1-5-21-1-2-3-1002")
	log.WithGroup("tun").Error("create TUN", "err", "no wintun.dll")
	log.Debug("not at the default level")
	want := []struct{ level, has string }{
		{"info", `msg="agent running" component=agent socket=\\.\pipe\gatehouse-agent`},
		{"warning", `msg="local API caller refused" component=agent caller_sid=S-1-5-21-1-2-3-1002`},
		{"error", `msg="create TUN" component=agent tun.err="no wintun.dll"`},
	}
	if len(rec.entries) != len(want) {
		t.Fatalf("service logger got %q, want %d entries", rec.entries, len(want))
	}
	for i, w := range want {
		got := rec.entries[i]
		if !strings.HasPrefix(got, w.level+": ") || !strings.Contains(got, w.has) || strings.HasSuffix(got, "\n") {
			t.Errorf("entry %d = %q, want a %s entry with %q and no trailing newline", i, got, w.level, w.has)
		}
	}
}
