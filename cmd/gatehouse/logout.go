package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func logoutCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Sign out on this device: the session ends at the controller and the app tunnels go",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := agentClient(cmd).Logout(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if l.Warning != "" {
				fmt.Fprintln(out, "warning:", l.Warning)
			}
			fmt.Fprintln(out, "signed out; sign in again with: gatehouse login")
			return nil
		},
	}
}
