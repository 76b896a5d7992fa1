package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/gatehouse-ztna/gatehouse/agent"
	"github.com/gatehouse-ztna/gatehouse/internal/enrollflags"
)

func enrollCmd() *cobra.Command {
	var o agent.EnrollOptions
	var in *enrollflags.Flags
	cmd := &cobra.Command{
		Use:   "enroll --controller URL --token TOKEN",
		Short: "Enroll this device with a single-use enrollment token",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tok, err := in.Token("ask your admin for an enrollment token")
			if err != nil {
				return err
			}
			o.StateDir, o.Controller, o.Token, o.CAFile = stateDir(cmd), in.Controller, tok, in.CAFile
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
	in = enrollflags.Add(cmd, "enrollment token")
	cmd.Flags().StringVar(&o.Hostname, "hostname", "", "name of this device (default: the OS hostname)")
	return cmd
}
