package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// exceptionsCmd is `gatehouse admin exceptions`: waived posture checks.
func exceptionsCmd() *cobra.Command {
	var (
		user, device, owner, reason, until string
		checks                             []string
		lasts                              time.Duration
	)
	create := &cobra.Command{
		Use:   "create (--user U | --device D) --check NAME… --owner O --reason R (--until TIME | --for DURATION)",
		Short: "Waive posture checks for a user or a device until an expiry (at most 90 days)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			expires, err := exceptionExpiry(until, lasts, time.Now())
			if err != nil {
				return err
			}
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			e, err := c.CreateException(cmd.Context(), api.Exception{User: user, Device: device, Checks: checks,
				Owner: owner, Reason: reason, ExpiresAt: expires})
			if err != nil {
				return fmt.Errorf("create exception: %w", err)
			}
			if printJSON(cmd, e) {
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created exception %s: %s waived for %s until %s\n",
				e.ID, strings.Join(e.Checks, ", "), exceptionSubject(e), e.ExpiresAt.UTC().Format(exceptionTime))
			return nil
		},
	}
	f := create.Flags()
	f.StringVar(&user, "user", "", "the user whose devices the exception covers")
	f.StringVar(&device, "device", "", "the one device the exception covers (gatehouse admin devices list)")
	f.StringArrayVar(&checks, "check", nil, "a check to waive, as `gatehouse posture` names it (firewall, disk_encryption, process:/usr/sbin/sshd); repeat for more")
	f.StringVar(&owner, "owner", "", "who answers for the exception (a person or team)")
	f.StringVar(&reason, "reason", "", "why the checks are waived")
	f.StringVar(&until, "until", "", "when it expires: 2026-12-31T00:00Z, an RFC 3339 time, or a date (midnight UTC)")
	f.DurationVar(&lasts, "for", 0, "how long it lasts from now, e.g. 72h")

	list := &cobra.Command{
		Use: "list", Short: "List exceptions, expired ones too", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			es, err := c.Exceptions(cmd.Context())
			if err != nil {
				return err
			}
			if printJSON(cmd, es) {
				return nil
			}
			now := time.Now()
			rows := make([][]string, len(es))
			for i, e := range es {
				state := "in force"
				if !now.Before(e.ExpiresAt) {
					state = "expired"
				}
				rows[i] = []string{e.ID, exceptionSubject(e), strings.Join(e.Checks, ","), e.ExpiresAt.UTC().Format(exceptionTime), state, e.Owner, e.Reason}
			}
			table(cmd, "ID\tFOR\tCHECKS\tUNTIL\tSTATE\tOWNER\tREASON", rows)
			return nil
		},
	}
	del := &cobra.Command{
		Use: "delete ID", Short: "Delete an exception: its checks count again at once", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			if err := c.DeleteException(cmd.Context(), args[0]); err != nil {
				return fmt.Errorf("delete exception %s: %w (see `gatehouse admin exceptions list`)", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted exception %s\n", args[0])
			return nil
		},
	}
	return group("exceptions", "Waive posture checks for a user or device, with an owner, a reason and an expiry", create, list, del)
}

// exceptionTime is how the CLI shows an exception's expiry.
const exceptionTime = "2006-01-02 15:04 UTC"

// exceptionExpiry is the expiry --until or --for give (exactly one).
func exceptionExpiry(until string, lasts time.Duration, now time.Time) (time.Time, error) {
	switch {
	case until != "" && lasts != 0:
		return time.Time{}, fmt.Errorf("give the expiry with --until or --for, not both")
	case lasts < 0:
		return time.Time{}, fmt.Errorf("--for %v: give a positive duration, e.g. --for 72h", lasts)
	case lasts > 0:
		return now.Add(lasts), nil
	case until == "":
		return time.Time{}, fmt.Errorf("give the expiry: --until 2026-12-31T00:00Z or --for 72h")
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04Z07:00", "2006-01-02T15:04Z", "2006-01-02"} {
		if t, err := time.Parse(layout, until); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--until %q: write it as 2026-12-31T00:00Z, an RFC 3339 time, or a date 2026-12-31", until)
}

func exceptionSubject(e api.Exception) string {
	if e.User != "" {
		return "user " + e.User
	}
	return "device " + e.Device
}
