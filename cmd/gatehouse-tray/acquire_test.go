package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/gui"
	"github.com/gatehouse-ztna/gatehouse/gui/instance"
)

// TestAcquire: a window child takes its window's lock beside the tray's,
// once per window; a window name not in the list takes nothing (it would
// name a lock file).
func TestAcquire(t *testing.T) {
	dir := t.TempDir()
	tray, err := acquire(dir, "")
	if err != nil {
		t.Fatalf("acquire(tray) = %v", err)
	}
	defer tray.Release()
	if _, err := acquire(dir, ""); !errors.Is(err, instance.ErrRunning) {
		t.Errorf("acquire(tray) twice = %v, want ErrRunning", err)
	}
	posture, err := acquire(dir, gui.WindowPosture)
	if err != nil {
		t.Fatalf("acquire(posture) beside the tray = %v", err)
	}
	defer posture.Release()
	if _, err := acquire(dir, gui.WindowPosture); !errors.Is(err, instance.ErrRunning) {
		t.Errorf("acquire(posture) twice = %v, want ErrRunning", err)
	}
	for _, bad := range []gui.Window{"../../etc/x", "settings"} {
		if l, err := acquire(dir, bad); err == nil || !strings.Contains(err.Error(), "no window") {
			t.Errorf("acquire(%q) = %v, %v; want refused", bad, l, err)
		}
	}
}
