package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
)

// requestCmd is `gatehouse request APP --reason … --for 2h`: just-in-time
// access, asked through the local agent on its control connection.
func requestCmd() *cobra.Command {
	var reason, cancel string
	var d time.Duration
	cmd := &cobra.Command{
		Use:   "request APP --reason WHY --for 2h | request --cancel ID",
		Short: "Ask for just-in-time access to an app; an approver decides",
		Args: func(cmd *cobra.Command, args []string) error {
			if cancel != "" {
				return cobra.NoArgs(cmd, args)
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if cancel != "" {
				req, err := agentClient(cmd).RequestAccess(cmd.Context(), api.AccessRequestInput{Cancel: cancel})
				if err != nil {
					return fmt.Errorf("cancel request %s: %w", cancel, err)
				}
				if !printJSON(cmd, req) {
					fmt.Fprintf(cmd.OutOrStdout(), "request %s for %s is %s\n", req.ID, printable(req.App), req.State)
				}
				return nil
			}
			req, err := agentClient(cmd).RequestAccess(cmd.Context(), api.AccessRequestInput{App: args[0], Reason: reason, For: api.Duration(d)})
			if err != nil {
				return fmt.Errorf("request access to %s: %w", args[0], err)
			}
			if printJSON(cmd, req) {
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "request %s for %s (%s) is %s: a member of %s decides\n",
				req.ID, printable(req.App), time.Duration(req.For), req.State, printable(req.Approvers))
			fmt.Fprintf(cmd.OutOrStdout(), "see `gatehouse apps` for its state; once approved, connect as usual\n")
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why you need access (required; shown to the approvers)")
	cmd.Flags().DurationVar(&d, "for", 2*time.Hour, "how long you need access, e.g. 2h (at most the policy's limit)")
	cmd.Flags().StringVar(&cancel, "cancel", "", "withdraw your request with this ID instead (pending, or approved: ends your access now)")
	return cmd
}

// requestsAdminCmd is `gatehouse admin requests list|approve|deny`.
func requestsAdminCmd() *cobra.Command {
	var pending bool
	list := &cobra.Command{
		Use: "list [--pending]", Short: "List access requests, newest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			state := ""
			if pending {
				state = api.RequestPending
			}
			rs, err := c.AccessRequests(cmd.Context(), state)
			if err != nil {
				return err
			}
			if printJSON(cmd, rs) {
				return nil
			}
			rows := make([][]string, 0, len(rs))
			for _, r := range rs {
				rows = append(rows, []string{r.ID, r.User, r.App, r.State, time.Duration(r.For).String(), stamp(r.RequestedAt),
					orDash(r.DecidedBy), stamp(r.ExpiresAt), r.Reason, orDash(r.Note)})
			}
			table(cmd, "ID\tUSER\tAPP\tSTATE\tFOR\tREQUESTED\tDECIDED BY\tUNTIL\tREASON\tNOTE", rows)
			return nil
		},
	}
	list.Flags().BoolVar(&pending, "pending", false, "only requests waiting for a decision")
	var note string
	var d time.Duration
	approve := &cobra.Command{
		Use: "approve ID [--for D] [--note TEXT]", Short: "Approve a request (for less time than asked with --for)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			r, err := c.ApproveAccessRequest(cmd.Context(), args[0], api.AccessDecisionInput{Note: note, For: api.Duration(d)})
			if err != nil {
				return fmt.Errorf("approve request %s: %w", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "approved %s: %s may reach %s until %s\n", r.ID, printable(r.User), printable(r.App), stamp(r.ExpiresAt))
			return nil
		},
	}
	approve.Flags().DurationVar(&d, "for", 0, "approve for this long instead of what was asked (shorter only)")
	approve.Flags().StringVar(&note, "note", "", "a note for the record")
	deny := noteCmd("deny ID --note WHY", "Deny a request, saying why", "deny",
		func(c *adminclient.Client) decideFunc { return c.DenyAccessRequest },
		func(r api.AccessRequest) string {
			return fmt.Sprintf("denied %s (%s for %s)", r.ID, printable(r.User), printable(r.App))
		})
	revoke := noteCmd("revoke ID --note WHY", "End approved access early, saying why", "revoke",
		func(c *adminclient.Client) decideFunc { return c.RevokeAccessRequest },
		func(r api.AccessRequest) string {
			return fmt.Sprintf("ended %s: %s no longer reaches %s", r.ID, printable(r.User), printable(r.App))
		})
	return group("requests", "Decide just-in-time access requests", list, approve, deny, revoke)
}

// decideFunc is one of the admin client's decisions on a request.
type decideFunc func(ctx context.Context, id string, in api.AccessDecisionInput) (api.AccessRequest, error)

// noteCmd is a decision on request ID that must say why (--note): verb
// names it in errors, done says what it did.
func noteCmd(use, short, verb string, op func(*adminclient.Client) decideFunc, done func(api.AccessRequest) string) *cobra.Command {
	var note string
	cmd := &cobra.Command{
		Use: use, Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			r, err := op(c)(cmd.Context(), args[0], api.AccessDecisionInput{Note: note})
			if err != nil {
				return fmt.Errorf("%s request %s: %w", verb, args[0], err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), done(r))
			return nil
		},
	}
	cmd.Flags().StringVar(&note, "note", "", "why (required; the requester sees it)")
	return cmd
}
