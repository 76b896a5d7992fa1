package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse-ztna/gatehouse/gateway/link"
)

func enrollCmd() *cobra.Command {
	var o link.EnrollOptions
	var tokenFile, caFile string
	cmd := &cobra.Command{
		Use:   "enroll --controller URL --token TOKEN --ca ca.pem",
		Short: "Enroll this gateway with a single-use gateway token",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.StateDir = stateDir(cmd)
			if tokenFile != "" {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return fmt.Errorf("read --token-file: %w", err)
				}
				o.Token = strings.TrimSpace(string(b))
			}
			if o.Controller == "" || o.Token == "" {
				return errors.New("both --controller and --token (or --token-file) are needed; an admin makes a token with `gatehouse admin gateways create NAME`")
			}
			if caFile != "" {
				b, err := os.ReadFile(caFile)
				if err != nil {
					return fmt.Errorf("read --ca: %w", err)
				}
				o.CAPEM = b
			}
			st, err := link.Enroll(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Printf("enrolled gateway %s (%s) with %s\nkey kept in %s (0600)\n", st.Name, st.GatewayID, st.Controller, o.StateDir)
			fmt.Printf("next: gatehouse-gateway run --state-dir %s --public-host HOST\n", o.StateDir)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Controller, "controller", "", "controller URL, e.g. https://gatehouse.example.com:8443")
	f.StringVar(&o.Token, "token", "", "single-use gateway token (visible in ps; prefer --token-file)")
	f.StringVar(&tokenFile, "token-file", "", "file holding the gateway token")
	f.StringVar(&caFile, "ca", "", "controller CA certificate (PEM) to trust instead of the system roots")
	return cmd
}
