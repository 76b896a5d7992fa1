package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func appsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "apps",
		Short: "List apps: allowed or denied, why, and where to reach them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			apps, err := agentClient(cmd).Apps(cmd.Context())
			if err != nil {
				return err
			}
			if printJSON(cmd, apps) {
				return nil
			}
			out := cmd.OutOrStdout()
			if len(apps) == 0 {
				fmt.Fprintln(out, "no apps yet (is the agent connected? see `gatehouse status`)")
			}
			for _, a := range apps {
				verdict := "denied"
				if a.Allowed {
					verdict = "allowed"
				}
				tunnel := ""
				if a.TunnelUp {
					tunnel = ", tunnel up"
				}
				fmt.Fprintf(out, "%s: %s%s  %s\n", a.Name, verdict, tunnel, strings.Join(a.LocalAddrs, " "))
				for _, r := range a.Reasons {
					fmt.Fprintf(out, "    - %s\n", r.Message)
					if r.Remediation != "" && !a.Allowed {
						fmt.Fprintf(out, "      fix: %s\n", r.Remediation)
					}
				}
			}
			return nil
		},
	}
}
