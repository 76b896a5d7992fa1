package controller

import (
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// tightenDataDir makes an existing data dir private again: the dir and
// every dir under it 0700, every file 0600. The database, the CA key and
// the gateway key live there; a data dir made by an older controller, or
// copied with a loose umask, may have left them readable by others. New
// files are born private through the process umask (cmd/gatehouse-controller).
func tightenDataDir(dir string, log *slog.Logger) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("check permissions of the data dir: %w", err)
		}
		want := fs.FileMode(0o600)
		switch {
		case d.IsDir():
			want = 0o700
		case !d.Type().IsRegular():
			return nil // symlinks and the like: not ours to change
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("check permissions of %s: %w", path, err)
		}
		if info.Mode().Perm()&^want == 0 {
			return nil
		}
		if err := os.Chmod(path, want); err != nil {
			return fmt.Errorf("%s is open to other users (%04o) and could not be made private: %w; run `chmod %04o %s` as its owner",
				path, info.Mode().Perm(), err, want, path)
		}
		log.Warn("made a data dir entry private", "path", path, "was", fmt.Sprintf("%04o", info.Mode().Perm()), "now", fmt.Sprintf("%04o", want))
		return nil
	})
}
