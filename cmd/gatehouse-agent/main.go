// Command gatehouse-agent is the device agent: `enroll` (or `login`, which
// enrolls by signing in) once, then `run`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/gatehouse-ztna/gatehouse/agent/keystore"
	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
)

func main() {
	root := &cobra.Command{
		Use:           "gatehouse-agent",
		Short:         "The Gatehouse device agent",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().String("state-dir", localapi.DefaultStateDir(), "where the agent keeps its state")
	root.AddCommand(enrollCmd(), runCmd(), loginCmd())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse-agent:", err)
		os.Exit(1)
	}
}

// stateDir is the --state-dir flag, and secrets the keystore kept for it:
// enroll and run must agree on both.
func stateDir(cmd *cobra.Command) string {
	dir, _ := cmd.Flags().GetString("state-dir")
	return dir
}

func secrets(stateDir string) keystore.Store {
	return keystore.Open("gatehouse-agent:"+stateDir, stateDir)
}
