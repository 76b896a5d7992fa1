package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
)

func tokensCmd() *cobra.Command {
	var user string
	var ttl time.Duration
	create := &cobra.Command{
		Use: "create --user USER", Short: "Make a single-use enrollment token bound to a user", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			t, err := c.EnrollmentToken(cmd.Context(), user, ttl)
			if err != nil {
				return err
			}
			if printJSON(cmd, t) {
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\n(single use, for %s, expires %s)\n", t.Token, t.User, t.ExpiresAt.Local().Format(time.RFC1123))
			return nil
		},
	}
	create.Flags().StringVar(&user, "user", "", "the user the enrolled device will belong to")
	create.Flags().DurationVar(&ttl, "ttl", time.Hour, "how long the token stays valid (at most 168h, 7 days)")
	revoke := &cobra.Command{
		Use: "revoke ID", Short: "Revoke an enrollment token so it cannot enroll a device (devices it enrolled stay)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			if err := c.RevokeEnrollmentToken(cmd.Context(), args[0]); err != nil {
				return fmt.Errorf("revoke enrollment token %s: %w (see `gatehouse admin tokens list` for IDs)", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked enrollment token %s\n", args[0])
			return nil
		},
	}
	k := kind[api.EnrollmentToken]{use: "enrollment tokens", path: api.PathEnrollmentTokens, header: "ID\tUSER\tEXPIRES\tUSED",
		row: func(t api.EnrollmentToken) []string {
			return []string{t.ID, t.User, t.ExpiresAt.Local().Format(time.RFC3339), fmt.Sprint(t.Used)}
		}}
	return group("tokens", "Manage enrollment tokens", k.commands()[0], create, revoke)
}

func devicesCmd() *cobra.Command {
	k := kind[api.Device]{use: "devices", path: api.PathDevices, header: "ID\tUSER\tHOSTNAME\tNAME\tSTATE\tTAGS\tONLINE\tFIRST SEEN\tLAST SEEN",
		row: func(d api.Device) []string {
			return []string{d.ID, d.User, d.Hostname, d.Name, d.State, strings.Join(d.Tags, ","), fmt.Sprint(d.Online),
				stamp(d.EnrolledAt), stamp(d.LastSeen)}
		}}
	cmds := k.commands()
	return group("devices", "Manage devices", append([]*cobra.Command{cmds[0], cmds[2]}, deviceTagCmds()...)...)
}

func grantsCmd() *cobra.Command {
	return &cobra.Command{
		Use: "grants", Short: "List live grants (device, app, overlay address, lease)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			gs, err := adminclient.List[api.LiveGrant](cmd.Context(), c, api.PathGrants)
			if err != nil {
				return err
			}
			if printJSON(cmd, gs) {
				return nil
			}
			rows := make([][]string, len(gs))
			for i, g := range gs {
				rows[i] = []string{g.User, g.Device, g.App, g.OverlayAddr, time.Until(g.ExpiresAt).Round(time.Second).String()}
			}
			table(cmd, "USER\tDEVICE\tAPP\tOVERLAY\tLEASE LEFT", rows)
			return nil
		},
	}
}
