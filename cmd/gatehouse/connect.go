package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func connectCmd() *cobra.Command {
	var wg wgExportFlags
	cmd := &cobra.Command{
		Use:   "connect APP",
		Short: "Bring an app's tunnel up now, or see why you may not reach it",
		Long: `Bring an app's tunnel up now, or see why you may not reach it.

With --wireguard-config, the app's grant is exported as a standard WireGuard
config (for wg-quick or wg setconf) instead: it holds a private key, so it is
written with mode 0600. It works while this agent keeps its session and the
policy passes; a revocation or an unrenewed lease ends it. --release gives it
back at once.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if wg.export || wg.release || wg.out != "" {
				return wg.run(cmd, args[0])
			}
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
	cmd.Flags().BoolVar(&wg.export, "wireguard-config", false, "export the app's grant as a standard WireGuard config")
	cmd.Flags().StringVar(&wg.out, "out", "", "with --wireguard-config: write the config to this file (mode 0600) instead of stdout")
	cmd.Flags().BoolVar(&wg.release, "release", false, "with --wireguard-config: give the exported grant back, so the config stops working")
	return cmd
}
