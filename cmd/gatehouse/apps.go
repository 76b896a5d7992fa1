package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
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
				printApp(out, a)
			}
			return nil
		},
	}
}

// printApp writes one app as `gatehouse apps` lists it: the verdict,
// where to reach it, and every reason with its fix.
func printApp(out io.Writer, a localapi.App) {
	verdict := "denied"
	if a.Allowed {
		verdict = "allowed"
	}
	tunnel := ""
	if a.TunnelUp {
		tunnel = ", tunnel up"
	}
	if !a.AccessUntil.IsZero() && a.Allowed {
		verdict += " until " + a.AccessUntil.Local().Format(time.RFC1123)
	}
	fmt.Fprintf(out, "%s: %s%s  %s\n", a.Name, verdict, tunnel, strings.Join(a.LocalAddrs, " "))
	switch {
	case a.DNSName != "" && a.VirtualIP != "":
		fmt.Fprintf(out, "    by name: %s -> %s (TUN)\n", a.DNSName, a.VirtualIP)
	case a.DNSName != "":
		fmt.Fprintf(out, "    by name: %s (through --socks5 or --tun)\n", a.DNSName)
	}
	for _, r := range a.Reasons {
		fmt.Fprintf(out, "    - %s\n", r.Message)
		if r.Remediation != "" && !a.Allowed {
			fmt.Fprintf(out, "      fix: %s\n", r.Remediation)
		}
	}
}
