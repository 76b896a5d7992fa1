package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
)

// sessionLine is the signed-in session in one line: who, how, until
// when; or why there is none and what to do.
func sessionLine(s localapi.Session) string {
	var line string
	switch {
	case s.SignedIn:
		line = "signed in as " + printable(s.User)
		if len(s.Methods) > 0 {
			line += " (" + printable(strings.Join(s.Methods, ", ")) + ")"
		}
		line += fmt.Sprintf(", access token until %s (renewed before)", s.ExpiresAt.Local().Format(time.TimeOnly))
	case s.Ended != nil:
		line = "not signed in: " + printable(s.Ended.Message)
		if s.Ended.Remediation != "" {
			line += " (" + printable(s.Ended.Remediation) + ")"
		}
	default:
		line = "not signed in (gatehouse login to sign in)"
	}
	if s.Problem != "" {
		line += "; " + printable(s.Problem)
	}
	return line
}

func statusCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the agent's connection, identity and live tunnels",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if watch, _ := cmd.Flags().GetBool("watch"); watch {
				return watchStatus(cmd)
			}
			s, err := agentClient(cmd).Status(cmd.Context())
			if err != nil {
				return err
			}
			if printJSON(cmd, s) {
				return nil
			}
			out := cmd.OutOrStdout()
			state := "connected"
			if !s.Connected {
				state = "NOT connected"
				if s.LastError != "" {
					state += " (" + s.LastError + ")"
				}
			}
			fmt.Fprintf(out, "controller: %s, %s\nuser:       %s\ndevice:     %s\nsecrets:    %s\n",
				s.Controller, state, s.User, s.DeviceID, s.SecretsIn)
			fmt.Fprintf(out, "session:    %s\n", sessionLine(s.Session))
			fmt.Fprintf(out, "local user: %s (the only account served on the app ports)\n", s.LocalUser)
			if s.RefusedCallers > 0 || s.RefusedRequests > 0 {
				fmt.Fprintf(out, "refused:    %d connections from other local users, %d requests naming another host (DNS rebinding, or no app through SOCKS5)\n",
					s.RefusedCallers, s.RefusedRequests)
			}
			if s.TUN != "" {
				fmt.Fprintf(out, "tun:        %s (apps at their virtual IPs, for the local user only)\n", s.TUN)
			}
			if s.DNSResolver != "" {
				fmt.Fprintf(out, "dns:        %s answers APP.%s (via %s)\n", s.DNSResolver, s.DNSDomain, s.DNSVia)
			}
			if len(s.Exported) > 0 {
				fmt.Fprintf(out, "exported:   %s (WireGuard configs; `gatehouse connect APP --wireguard-config --release` ends one)\n",
					strings.Join(s.Exported, ", "))
			}
			if len(s.Tunnels) == 0 {
				fmt.Fprintln(out, "tunnels:    none (a tunnel comes up on the first connection to an app)")
				return nil
			}
			var rows [][]string
			for _, t := range s.Tunnels {
				rows = append(rows, []string{t.App, t.OverlayAddr, t.VirtualIP, fmt.Sprint(t.OpenConns),
					time.Until(t.ExpiresAt).Round(time.Second).String(), t.PublicKey})
			}
			fmt.Fprintln(out)
			table(cmd, "APP\tOVERLAY\tVIRTUAL IP\tCONNS\tLEASE LEFT\tPUBLIC KEY", rows)
			return nil
		},
	}
	c.Flags().Bool("watch", false, "follow the agent: print the state, then a line for each change (access revoked or restored, posture checks, sign-in, connection) until the agent stops")
	return c
}
