// Command gatehouse-gateway is the standalone gateway: `enroll` once with
// a gateway token, then `run` next to the apps. It dials out to the
// controller and needs no inbound port but WireGuard's UDP.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Version is reported to the controller in every status.
const Version = "0.1.0"

func main() {
	root := &cobra.Command{
		Use:           "gatehouse-gateway",
		Short:         "The Gatehouse standalone gateway",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().String("state-dir", "/var/lib/gatehouse-gateway", "where the gateway keeps its key and enrollment (0700)")
	root.AddCommand(enrollCmd(), runCmd())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse-gateway:", err)
		os.Exit(1)
	}
}

func stateDir(cmd *cobra.Command) string {
	dir, _ := cmd.Flags().GetString("state-dir")
	return dir
}
