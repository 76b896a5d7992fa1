package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/internal/devicelogin"
)

// loginPoll is how often `gatehouse login` asks the agent whether the
// sign-in finished (the agent polls the controller on its own schedule).
const loginPoll = time.Second

func loginCmd() *cobra.Command {
	var noBrowser bool
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Sign in on this device: open the page shown, enter the code, and wait",
		Long: "Asks the local agent to start a sign-in (OAuth device authorization), shows the page and code,\n" +
			"opens the browser where there is a desktop, and waits until you have finished there.\n" +
			"A device not enrolled yet signs in with: gatehouse-agent login --controller URL --ca FILE",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := agentClient(cmd)
			l, err := c.Login(cmd.Context())
			if err != nil {
				return fmt.Errorf("%w\n(a device not enrolled yet signs in with: gatehouse-agent login --controller URL --ca FILE)", err)
			}
			out := cmd.OutOrStdout()
			p := devicelogin.Prompt{Page: l.VerificationURI, PageWithCode: l.VerificationURIComplete, Code: l.UserCode}
			if err := devicelogin.Show(out, p, !noBrowser); err != nil {
				return err
			}
			fmt.Fprintf(out, "Waiting for the sign-in to finish (the code expires at %s)…\n", l.ExpiresAt.Local().Format(time.Kitchen))
			t := time.NewTicker(loginPoll)
			defer t.Stop()
			for {
				select {
				case <-cmd.Context().Done():
					return errors.New("stopped waiting; the sign-in goes on in the agent until the code expires (gatehouse status shows it)")
				case <-t.C:
				}
				st, err := c.LoginState(cmd.Context())
				if err != nil {
					return err
				}
				if st.UserCode != l.UserCode {
					return errors.New("another sign-in was started on this device; finish that one")
				}
				switch st.State {
				case localapi.LoginSignedIn:
					fmt.Fprintf(out, "signed in as %s\n", printable(st.User))
					return nil
				case localapi.LoginFailed:
					return errors.New(st.Error)
				}
			}
		},
	}
	cmd.Flags().BoolVar(&noBrowser, "no-browser", false, "only print the page and code; do not open a browser")
	return cmd
}
