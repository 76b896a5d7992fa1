package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

// wgExportFlags are connect's --wireguard-config flags.
type wgExportFlags struct {
	export, release bool
	out             string
}

func (f wgExportFlags) run(cmd *cobra.Command, app string) error {
	if !f.export {
		return errors.New("--out and --release go with --wireguard-config")
	}
	c := agentClient(cmd)
	if f.release {
		if err := c.ReleaseWireGuard(cmd.Context(), app); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "released %s's exported WireGuard config; it no longer works\n", app)
		return nil
	}
	if f.out != "" {
		// Checked before asking, so a bad place costs no grant.
		if err := checkSecretFilePlace(f.out); err != nil {
			return err
		}
	}
	conf, err := c.ExportWireGuard(cmd.Context(), app)
	if err != nil {
		return err
	}
	if printJSON(cmd, conf) {
		return nil
	}
	warn := fmt.Sprintf("warning: the WireGuard config for %s holds a private key: keep it secret, like a password.\n"+
		"It works while this agent keeps its session and the policy passes; `gatehouse connect %s --wireguard-config --release` ends it.\n", app, app)
	if f.out == "" {
		fmt.Fprint(cmd.ErrOrStderr(), warn)
		fmt.Fprint(cmd.OutOrStdout(), conf.Config)
		return nil
	}
	if err := writeSecretFile(f.out, []byte(conf.Config)); err != nil {
		// The grant is useless without its file: give it back.
		if rerr := c.ReleaseWireGuard(cmd.Context(), app); rerr != nil {
			err = fmt.Errorf("%w (and releasing the grant failed: %v)", err, rerr)
		}
		return err
	}
	fmt.Fprint(cmd.ErrOrStderr(), warn)
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (mode 0600); bring it up with: wg-quick up %s\n", f.out, f.out)
	return nil
}

// checkSecretFilePlace refuses a path whose directory others may write
// to (they could swap the file or read it in the window before it is
// renamed) or that is a symlink or not a regular file.
func checkSecretFilePlace(path string) error {
	dir := filepath.Dir(path)
	di, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("directory for %s: %w", path, err)
	}
	if !di.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if worldWritable(di) {
		return fmt.Errorf("refusing to write a private key into %s: anyone may write to that directory; choose a directory of your own", dir)
	}
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fi.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("refusing to write a private key over %s: it is a symlink; remove it or choose another name", path)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("refusing to write over %s: not a regular file", path)
	}
	return nil
}

// writeSecretFile writes data to path with mode 0600: into a fresh file
// of its own (O_EXCL, 0600 from the start) renamed over path, so the key
// is never readable by others and a symlink at path is replaced, not
// followed.
func writeSecretFile(path string, data []byte) error {
	if err := checkSecretFilePlace(path); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".gatehouse-wg-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the rename, nothing is there
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
