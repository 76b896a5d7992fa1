package posture

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/gatehouse-ztna/gatehouse/api"
)

// settleDelay lets a burst of events from one save (truncate, write,
// chmod; or an editor's rename dance) settle before the file is read, so a
// half-written file is not mistaken for the new override.
const settleDelay = 50 * time.Millisecond

// Overridden is a Source that applies an override file on top of another
// Source. For development and tests only (see Override).
type Overridden struct {
	src  Source
	path string
	log  *slog.Logger

	mu sync.RWMutex
	ov Override // the last successfully parsed file
}

var _ Source = (*Overridden)(nil)

// WithOverride returns a Source that collects from src and then applies
// the override file at path. The file is read now and again by Watch; a
// file that is missing or fails to parse keeps the previous good override
// (none at first) and is logged to log (nil discards logs).
func WithOverride(src Source, path string, log *slog.Logger) *Overridden {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := &Overridden{src: src, path: path, log: log}
	o.reload()
	return o
}

// Collect implements Source.
func (o *Overridden) Collect(ctx context.Context, q api.PostureQuery) api.PostureReport {
	r := o.src.Collect(ctx, q)
	o.mu.RLock()
	ov := o.ov
	o.mu.RUnlock()
	ov.Apply(&r)
	return r
}

// Watch reloads the override file whenever it is written, created or
// renamed, and calls changed (if not nil) after each reload that changed
// the override, so the caller can send a report at once. It watches the
// file's directory, so editors that save by renaming a new file into place
// work. Watch blocks until ctx is done and then returns nil; it returns an
// error only if watching cannot start or the watcher dies.
func (o *Overridden) Watch(ctx context.Context, changed func()) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch posture override %s: %w", o.path, err)
	}
	defer w.Close()
	dir := filepath.Dir(o.path)
	if err := w.Add(dir); err != nil {
		return fmt.Errorf("watch posture override %s: directory %s: %w", o.path, dir, err)
	}
	notify := func() {
		if changed != nil {
			changed()
		}
	}
	// The file may have changed between WithOverride and the watch.
	if o.reload() {
		notify()
	}

	name := filepath.Base(o.path)
	settle := time.NewTimer(settleDelay)
	settle.Stop()
	defer settle.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return fmt.Errorf("watch posture override %s: %w", o.path, errors.New("watcher closed"))
			}
			if filepath.Base(ev.Name) == name && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename|fsnotify.Remove) != 0 {
				settle.Reset(settleDelay)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return fmt.Errorf("watch posture override %s: %w", o.path, errors.New("watcher closed"))
			}
			o.log.Warn("posture override: watch error", "path", o.path, "err", err)
		case <-settle.C:
			if o.reload() {
				notify()
			}
		}
	}
}

// reload reads the override file and reports whether the override
// changed. On failure the previous override stays.
func (o *Overridden) reload() bool {
	ov, err := LoadOverride(o.path)
	if err != nil {
		o.log.Warn("posture override not loaded; keeping the previous one (fix or rewrite the file)", "err", err)
		return false
	}
	o.mu.Lock()
	same := reflect.DeepEqual(o.ov, ov)
	o.ov = ov
	o.mu.Unlock()
	if !same {
		o.log.Info("posture override loaded; these facts are not collected but set (development only)", "path", o.path, "facts", ov.Keys())
	}
	return !same
}
