package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse-ztna/gatehouse/agent"
)

func enrollCmd() *cobra.Command {
	var o agent.EnrollOptions
	var tokenFile string
	cmd := &cobra.Command{
		Use:   "enroll --controller URL --token TOKEN",
		Short: "Enroll this device with a single-use enrollment token",
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
				return fmt.Errorf("both --controller and --token (or --token-file) are needed; ask your admin for an enrollment token")
			}
			if o.Hostname == "" {
				o.Hostname, _ = os.Hostname()
			}
			o.Secrets = secrets(o.StateDir)
			if uid := agent.EnrollingUID(); uid >= 0 {
				o.LocalUID = &uid
			}
			st, err := agent.Enroll(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Printf("enrolled device %s for %s with %s\ndevice key kept in %s\n", st.DeviceID, st.User, st.Controller, o.Secrets.Where())
			if st.LocalUID != nil {
				fmt.Printf("app ports will serve only local uid %d (change with gatehouse-agent run --local-user)\n", *st.LocalUID)
			}
			fmt.Printf("next: gatehouse-agent run --state-dir %s\n", o.StateDir)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Controller, "controller", "", "controller URL, e.g. https://gatehouse.example.com:8443")
	f.StringVar(&o.Token, "token", "", "single-use enrollment token from your admin (visible in ps; prefer --token-file)")
	f.StringVar(&tokenFile, "token-file", "", "file holding the enrollment token")
	f.StringVar(&o.CAFile, "ca", "", "controller CA certificate (PEM) to trust instead of the system roots")
	f.StringVar(&o.Hostname, "hostname", "", "name of this device (default: the OS hostname)")
	return cmd
}
