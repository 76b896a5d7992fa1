package posture_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/posture"
	"github.com/gatehouse-ztna/gatehouse/posture/posturetest"
)

// logSink passes log messages to a channel so a test can wait for them.
type logSink chan string

func (s logSink) Enabled(context.Context, slog.Level) bool { return true }
func (s logSink) WithAttrs([]slog.Attr) slog.Handler       { return s }
func (s logSink) WithGroup(string) slog.Handler            { return s }
func (s logSink) Handle(_ context.Context, r slog.Record) error {
	select {
	case s <- r.Level.String() + " " + r.Message:
	default:
	}
	return nil
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeAtomic saves like editors do: a new file renamed over the old one.
func writeAtomic(t *testing.T, path, s string) {
	t.Helper()
	tmp := path + ".tmp"
	writeFile(t, tmp, s)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestOverriddenWatch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "override.json")
	writeFile(t, path, `{"disk_encryption": true, "kernel": "override"}`)
	src := posturetest.New(api.PostureReport{
		DiskEncryption: api.KnownBool(true),
		Kernel:         api.KnownString("real"),
	})
	logs := make(logSink, 100)
	o := posture.WithOverride(src, path, slog.New(logs))
	collect := func() api.PostureReport { return o.Collect(context.Background(), api.PostureQuery{}) }
	if got, want := collect().Kernel, api.KnownString("override"); got != want {
		t.Fatalf("Collect().Kernel = %+v, want %+v", got, want)
	}

	ctx, cancel := context.WithCancel(context.Background())
	changed := make(chan struct{}, 100)
	done := make(chan error, 1)
	go func() { done <- o.Watch(ctx, func() { changed <- struct{}{} }) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watch() = %v, want nil after cancel", err)
			}
		case <-time.After(time.Second):
			t.Errorf("Watch did not return within 1s of cancel")
		}
	}()

	// awaitFact waits for changed() calls until fact(Collect()) is want.
	awaitFact := func(what string, fact func(api.PostureReport) api.BoolFact, want api.BoolFact) {
		t.Helper()
		deadline := time.After(time.Second)
		for {
			select {
			case <-changed:
				if got := fact(collect()); got == want {
					return
				}
			case <-deadline:
				t.Fatalf("after %s: Collect().DiskEncryption = %+v within 1s, want %+v (changed() seen: %d)",
					what, fact(collect()), want, len(changed))
			}
		}
	}
	disk := func(r api.PostureReport) api.BoolFact { return r.DiskEncryption }

	writeFile(t, path, `{"disk_encryption": false}`)
	awaitFact("rewrite", disk, api.KnownBool(false))
	if got, want := collect().Kernel, api.KnownString("real"); got != want {
		t.Errorf("after rewrite without kernel: Collect().Kernel = %+v, want %+v", got, want)
	}

	for len(logs) > 0 {
		<-logs
	}
	writeAtomic(t, path, `{"disk_encryption": fals`)
	waitLog(t, logs, "WARN")
	if got, want := collect().DiskEncryption, api.KnownBool(false); got != want {
		t.Errorf("after garbage: Collect().DiskEncryption = %+v, want previous %+v", got, want)
	}

	writeAtomic(t, path, `{"disk_encryption": null}`)
	awaitFact("atomic replace", disk, api.BoolFact{})
}

func waitLog(t *testing.T, logs logSink, prefix string) {
	t.Helper()
	deadline := time.After(time.Second)
	for {
		select {
		case m := <-logs:
			if strings.HasPrefix(m, prefix) {
				return
			}
		case <-deadline:
			t.Fatalf("no %s log within 1s", prefix)
		}
	}
}

func TestWithOverrideMissingFile(t *testing.T) {
	logs := make(logSink, 10)
	path := filepath.Join(t.TempDir(), "missing", "override.json")
	src := posturetest.New(api.PostureReport{Firewall: api.KnownBool(true)})
	o := posture.WithOverride(src, path, slog.New(logs))
	waitLog(t, logs, "WARN")
	if got, want := o.Collect(context.Background(), api.PostureQuery{}).Firewall, api.KnownBool(true); got != want {
		t.Errorf("Collect().Firewall = %+v, want %+v (no override)", got, want)
	}
	if err := o.Watch(context.Background(), nil); err == nil {
		t.Errorf("Watch(%q in a missing directory) = nil, want an error", path)
	}
}
