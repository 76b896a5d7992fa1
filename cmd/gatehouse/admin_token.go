package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

func adminTokenCmd() *cobra.Command {
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Replace the bootstrap token before the first owner exists; the old one stops working at once",
		Long: `Replace the bootstrap token (only it may, and only until the first owner
exists: gatehouse admin bootstrap). When the token came from --admin-token-file
(or GATEHOUSE_ADMIN_TOKEN_FILE), the new one is written to that file (0600);
otherwise it is printed once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, file, err := adminToken(cmd)
			if err != nil {
				return err
			}
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if file == "" {
				tok, err := c.RotateAdminToken(cmd.Context())
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "%s\n(the new admin token, shown once; the old one no longer works)\n", tok)
				return nil
			}
			// Make sure the file can be replaced before the old token dies.
			tmp, err := os.CreateTemp(filepath.Dir(file), ".admin-token-*")
			if err != nil {
				return fmt.Errorf("cannot write next to %s, so the token was not rotated: %w", file, err)
			}
			defer os.Remove(tmp.Name())
			tok, err := c.RotateAdminToken(cmd.Context())
			if err != nil {
				tmp.Close()
				return err
			}
			if err := writeTokenFile(tmp, file, tok); err != nil {
				// The old token is gone: the new one must not be lost.
				fmt.Fprintf(out, "%s\n(the new admin token; the old one no longer works)\n", tok)
				return fmt.Errorf("the token was rotated, but writing it to %s failed: %w; it is printed above, store it now", file, err)
			}
			fmt.Fprintf(out, "new admin token written to %s; the old one no longer works\n", file)
			return nil
		},
	}
	return group("token", "Manage the bootstrap token", rotate)
}

// writeTokenFile fills tmp (made 0600 by os.CreateTemp) with tok and
// moves it over file.
func writeTokenFile(tmp *os.File, file, tok string) error {
	_, err := tmp.WriteString(tok + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}
