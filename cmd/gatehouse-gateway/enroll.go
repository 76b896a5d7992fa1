package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gatehouse-ztna/gatehouse/gateway/link"
	"github.com/gatehouse-ztna/gatehouse/internal/enrollflags"
)

func enrollCmd() *cobra.Command {
	var in *enrollflags.Flags
	cmd := &cobra.Command{
		Use:   "enroll --controller URL --token TOKEN --ca ca.pem",
		Short: "Enroll this gateway with a single-use gateway token",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tok, err := in.Token("an admin makes a token with `gatehouse admin gateways create NAME`")
			if err != nil {
				return err
			}
			ca, err := in.CAPEM()
			if err != nil {
				return err
			}
			o := link.EnrollOptions{StateDir: stateDir(cmd), Controller: in.Controller, Token: tok, CAPEM: ca}
			st, err := link.Enroll(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Printf("enrolled gateway %s (%s) with %s\nkey kept in %s (0600)\n", st.Name, st.GatewayID, st.Controller, o.StateDir)
			fmt.Printf("next: gatehouse-gateway run --state-dir %s --public-host HOST\n", o.StateDir)
			return nil
		},
	}
	in = enrollflags.Add(cmd, "gateway token")
	return cmd
}
