package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/gatehouse-ztna/gatehouse/agent"
	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/internal/devicelogin"
	"github.com/gatehouse-ztna/gatehouse/internal/enrollflags"
)

func loginCmd() *cobra.Command {
	var o agent.SignInEnrollOptions
	var in *enrollflags.Flags
	var noBrowser bool
	cmd := &cobra.Command{
		Use:   "login --controller URL --ca ca.pem",
		Short: "Enroll this device by signing in (no enrollment token needed)",
		Long: "Makes the device key, shows the sign-in page and code (and opens the browser where there is a desktop),\n" +
			"and enrolls the device as yours once you have signed in there. On an enrolled device, use gatehouse login.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := in.NeedController("name the controller you sign in to"); err != nil {
				return err
			}
			o.StateDir, o.Controller, o.CAFile = stateDir(cmd), in.Controller, in.CAFile
			if o.Hostname == "" {
				o.Hostname, _ = os.Hostname()
			}
			o.Secrets = secrets(o.StateDir)
			if uid := agent.EnrollingUID(); uid >= 0 {
				o.LocalUID = &uid
			}
			o.Show = func(da api.DeviceAuthorization) error {
				p := devicelogin.Prompt{Page: da.VerificationURI, PageWithCode: da.VerificationURIComplete, Code: da.UserCode}
				if err := devicelogin.Show(os.Stdout, p, !noBrowser); err != nil {
					return err
				}
				fmt.Println("Waiting for the sign-in to finish…")
				return nil
			}
			st, tok, err := agent.EnrollBySignIn(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Printf("signed in as %s; enrolled device %s with %s\ndevice key and session kept in %s\n",
				tok.User, st.DeviceID, st.Controller, o.Secrets.Where())
			fmt.Printf("next: gatehouse-agent run --state-dir %s\n", o.StateDir)
			return nil
		},
	}
	in = enrollflags.AddController(cmd)
	cmd.Flags().StringVar(&o.Hostname, "hostname", "", "name of this device (default: the OS hostname)")
	cmd.Flags().BoolVar(&noBrowser, "no-browser", false, "only print the page and code; do not open a browser")
	return cmd
}
