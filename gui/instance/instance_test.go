package instance

import (
	"errors"
	"testing"
)

func TestOneLockHolderAtATime(t *testing.T) {
	dir := t.TempDir()
	first, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire() = %v", err)
	}
	// A second open of the file is a second holder, as another process
	// would be.
	if _, err := Acquire(dir); !errors.Is(err, ErrRunning) {
		t.Fatalf("Acquire() while held = %v, want ErrRunning", err)
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	again, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire() after Release = %v", err)
	}
	again.Release()
}

func TestDirIsTheRuntimeDir(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1000")
	if dir, err := Dir(); err != nil || dir != "/run/user/1000" {
		t.Errorf("Dir() = %q, %v, want /run/user/1000", dir, err)
	}
	home := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", "")
	t.Setenv("XDG_CACHE_HOME", home)
	if dir, err := Dir(); err != nil || dir != home+"/gatehouse" {
		t.Errorf("Dir() without XDG_RUNTIME_DIR = %q, %v, want %s/gatehouse", dir, err, home)
	}
}

// TestWindowLocksAreApartFromTheTrays: the tray holds its lock while a
// window child runs; each window is open once, and different windows at
// once.
func TestWindowLocksAreApartFromTheTrays(t *testing.T) {
	dir := t.TempDir()
	tray, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer tray.Release()
	posture, err := AcquireWindow(dir, "posture")
	if err != nil {
		t.Fatalf("AcquireWindow(posture) beside the tray = %v", err)
	}
	defer posture.Release()
	if _, err := AcquireWindow(dir, "posture"); !errors.Is(err, ErrRunning) {
		t.Errorf("AcquireWindow(posture) twice = %v, want ErrRunning", err)
	}
	apps, err := AcquireWindow(dir, "apps")
	if err != nil {
		t.Fatalf("AcquireWindow(apps) beside posture = %v", err)
	}
	apps.Release()
}
