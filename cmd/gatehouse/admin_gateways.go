package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// gatewaysCmd is `gatehouse admin gateways`: standalone gateways.
func gatewaysCmd() *cobra.Command {
	var ttl time.Duration
	create := &cobra.Command{
		Use: "create NAME", Short: "Make a single-use enrollment token for gateway NAME (apps name it with --gateway)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			t, err := c.GatewayToken(cmd.Context(), args[0], ttl)
			if err != nil {
				return fmt.Errorf("gateway token for %s: %w", args[0], err)
			}
			if printJSON(cmd, t) {
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\n(single use, for gateway %s, expires %s)\non the gateway: gatehouse-gateway enroll --controller URL --token-file FILE --ca ca.pem\n",
				t.Token, t.Gateway, t.ExpiresAt.Local().Format(time.RFC1123))
			return nil
		},
	}
	create.Flags().DurationVar(&ttl, "ttl", time.Hour, "how long the token stays valid (at most 168h, 7 days)")
	del := &cobra.Command{
		Use: "delete NAME", Short: "Forget a gateway: its key stops working at once, its peers end at their leases", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			if err := c.DeleteGateway(cmd.Context(), args[0]); err != nil {
				return fmt.Errorf("delete gateway %s: %w (see `gatehouse admin gateways list`)", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted gateway %s\n", args[0])
			return nil
		},
	}
	k := kind[api.Gateway]{use: "gateways", path: api.PathGateways, header: "NAME\tSTATE\tVERSION\tPEERS\tFLOWS\tENDPOINT\tLAST SEEN",
		row: gatewayRow}
	return group("gateways", "Manage standalone gateways", k.commands()[0], create, del)
}

func gatewayRow(g api.Gateway) []string {
	seen := "never"
	if !g.LastSeen.IsZero() {
		seen = g.LastSeen.Local().Format(time.RFC3339)
	}
	return []string{g.Name, g.State, g.Version, fmt.Sprint(g.Peers), fmt.Sprint(g.OpenFlows), g.Endpoint, seen}
}
