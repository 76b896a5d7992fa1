package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func connectCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "connect APP",
		Short: "Bring an app's tunnel up now, or see why you may not reach it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			app, err := agentClient(cmd).Connect(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if !printJSON(cmd, app) {
				printApp(cmd.OutOrStdout(), app)
			}
			if !app.Allowed {
				return fmt.Errorf("access to %s denied; the reasons above say what to do", app.Name)
			}
			return nil
		},
	}
}
