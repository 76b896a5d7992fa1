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
