// Command gatehouse is the Gatehouse CLI: the device commands talk to the
// local agent; `gatehouse admin …` talks to the controller's REST API.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
)

func main() {
	root := &cobra.Command{
		Use:           "gatehouse",
		Short:         "Zero-trust access to your apps",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().String("socket", "", "the agent's local API socket (default: yours, "+localapi.DefaultSocket()+", else the system service's "+localapi.ServiceSocket+")")
	root.PersistentFlags().Bool("json", false, "print JSON instead of text")
	root.AddCommand(statusCmd(), appsCmd(), connectCmd(), postureCmd(), adminCmd())
	root.AddCommand(loginCmd(), logoutCmd(), requestCmd(), serviceCmd())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse:", err)
		os.Exit(1)
	}
}

func agentClient(cmd *cobra.Command) *localapi.Client {
	sock, _ := cmd.Flags().GetString("socket")
	if sock == "" {
		sock = localapi.FindSocket()
	}
	return localapi.NewClient(sock)
}

// printJSON writes v as indented JSON when --json is set and reports
// whether it did.
func printJSON(cmd *cobra.Command, v any) bool {
	if asJSON, _ := cmd.Flags().GetBool("json"); !asJSON {
		return false
	}
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	enc.Encode(v)
	return true
}

// table prints rows under a header, aligned. Cells come from the
// controller and, through it, from devices: each is made printable so that
// no cell can move the cursor, clear the screen or break the columns.
func table(cmd *cobra.Command, header string, rows [][]string) {
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, header)
	for _, r := range rows {
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = printable(c)
		}
		fmt.Fprintln(w, strings.Join(cells, "\t"))
	}
	w.Flush()
}

// printable returns s unchanged when every rune in it prints as itself,
// and otherwise s as a Go-quoted string, in which control characters
// (ESC, tab, newline…), invisible formatting runes (bidi overrides) and
// invalid UTF-8 appear escaped: "\x1b[2J".
func printable(s string) string {
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
