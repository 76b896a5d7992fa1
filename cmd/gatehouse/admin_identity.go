package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
)

// adminRun is a command body that needs only the admin client.
type adminRun func(cmd *cobra.Command, c *adminclient.Client, args []string) error

// adminCommand makes a command that runs f with a client from the admin
// flags.
func adminCommand(use, short string, args cobra.PositionalArgs, f adminRun) *cobra.Command {
	return &cobra.Command{Use: use, Short: short, Args: args,
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			return f(cmd, c, a)
		}}
}

// say prints one line of confirmation.
func say(cmd *cobra.Command, format string, args ...any) {
	fmt.Fprintf(cmd.OutOrStdout(), format+"\n", args...)
}

// withUserActions adds the identity actions on one user to `admin users`.
func withUserActions(users *cobra.Command) *cobra.Command {
	var pwFile string
	setPassword := adminCommand("set-password USER", "Set a user's password; every session of the user ends", cobra.ExactArgs(1),
		func(cmd *cobra.Command, c *adminclient.Client, args []string) error {
			pw, err := readPassword(cmd, pwFile, "new password for "+args[0])
			if err != nil {
				return err
			}
			if err := c.SetPassword(cmd.Context(), args[0], pw); err != nil {
				return err
			}
			say(cmd, "password of %s set; their sessions ended", args[0])
			return nil
		})
	setPassword.Flags().StringVar(&pwFile, "password-file", "", "file holding the new password (else asked for)")
	action := func(use, short, action, done string) *cobra.Command {
		return adminCommand(use+" USER", short, cobra.ExactArgs(1), func(cmd *cobra.Command, c *adminclient.Client, args []string) error {
			if err := c.UserAction(cmd.Context(), args[0], action); err != nil {
				return err
			}
			say(cmd, "%s %s", done, args[0])
			return nil
		})
	}
	setRole := adminCommand("set-role USER ROLE", "Give a user an admin role: owner, admin, auditor, helpdesk, or none (owners only)", cobra.ExactArgs(2),
		func(cmd *cobra.Command, c *adminclient.Client, args []string) error {
			role := args[1]
			if role == "none" {
				role = ""
			}
			if err := c.SetRole(cmd.Context(), args[0], role); err != nil {
				return err
			}
			say(cmd, "%s now has role %s", args[0], args[1])
			return nil
		})
	begin := adminCommand("begin USER", "Start a TOTP enrolment: prints the otpauth:// URL and seed, shown once", cobra.ExactArgs(1),
		func(cmd *cobra.Command, c *adminclient.Client, args []string) error {
			e, err := c.BeginTOTP(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if printJSON(cmd, e) {
				return nil
			}
			say(cmd, "%s\nseed: %s\n(add it to the authenticator app, then: gatehouse admin users totp confirm %s CODE)", e.URL, e.Secret, args[0])
			return nil
		})
	confirm := adminCommand("confirm USER CODE", "Confirm a TOTP enrolment with the app's current code", cobra.ExactArgs(2),
		func(cmd *cobra.Command, c *adminclient.Client, args []string) error {
			if err := c.ConfirmTOTP(cmd.Context(), args[0], args[1]); err != nil {
				return err
			}
			say(cmd, "TOTP of %s confirmed: sign-ins now ask for a code", args[0])
			return nil
		})
	remove := adminCommand("remove USER", "Remove a user's TOTP", cobra.ExactArgs(1),
		func(cmd *cobra.Command, c *adminclient.Client, args []string) error {
			if err := c.RemoveTOTP(cmd.Context(), args[0]); err != nil {
				return err
			}
			say(cmd, "TOTP of %s removed", args[0])
			return nil
		})
	users.AddCommand(setPassword,
		action("disable", "Disable a user: their sessions end and sign-in is refused", api.UserDisable, "disabled"),
		action("enable", "Let a disabled user sign in again", api.UserEnable, "enabled"),
		action("unlock", "Clear a user's sign-in backoff after failed attempts", api.UserUnlock, "cleared the sign-in backoff of"),
		setRole,
		group("totp", "Enrol or remove a user's TOTP second factor", begin, confirm, remove))
	return users
}

// withDeviceActions adds approval, blocking and labels to `admin devices`.
func withDeviceActions(devices *cobra.Command) *cobra.Command {
	action := func(use, short, action, done string) *cobra.Command {
		return adminCommand(use+" ID", short, cobra.ExactArgs(1), func(cmd *cobra.Command, c *adminclient.Client, args []string) error {
			if err := c.DeviceAction(cmd.Context(), args[0], action); err != nil {
				return err
			}
			say(cmd, "%s device %s", done, args[0])
			return nil
		})
	}
	var req api.DeviceLabelRequest
	label := adminCommand("label ID", "Set a device's name and tags (replacing the old ones)", cobra.ExactArgs(1),
		func(cmd *cobra.Command, c *adminclient.Client, args []string) error {
			if err := c.LabelDevice(cmd.Context(), args[0], req); err != nil {
				return err
			}
			say(cmd, "device %s: name %q, tags %s", args[0], req.Name, strings.Join(req.Tags, ","))
			return nil
		})
	label.Flags().StringVar(&req.Name, "name", "", "the device's name")
	label.Flags().StringSliceVar(&req.Tags, "tag", nil, "a tag (repeat, or comma-separated)")
	devices.AddCommand(
		action("approve", "Approve a pending (or blocked) device", api.DeviceApprove, "approved"),
		action("block", "Block a device: its sessions end and it gets no grants", api.DeviceBlock, "blocked"),
		label)
	return devices
}

func sessionsCmd() *cobra.Command {
	var user string
	list := adminCommand("list", "List sign-in sessions (all users', or --user's)", cobra.NoArgs,
		func(cmd *cobra.Command, c *adminclient.Client, _ []string) error {
			var ss []api.Session
			var err error
			if cmd.Flags().Changed("user") {
				ss, err = c.UserSessions(cmd.Context(), user)
			} else {
				ss, err = c.AllSessions(cmd.Context())
			}
			if err != nil {
				return err
			}
			if printJSON(cmd, ss) {
				return nil
			}
			rows := make([][]string, len(ss))
			for i, s := range ss {
				state := "live"
				if !s.Live {
					state = "ended"
					if s.RevokeReason != "" {
						state = "revoked (" + s.RevokeReason + ")"
					}
				}
				rows[i] = []string{s.ID, s.User, s.Device, strings.Join(s.Methods, "+"), stamp(s.AuthAt), stamp(s.ExpiresAt), state}
			}
			table(cmd, "ID\tUSER\tDEVICE\tMETHODS\tSIGNED IN\tEXPIRES\tSTATE", rows)
			return nil
		})
	list.Flags().StringVar(&user, "user", "", "only this user's sessions")
	var revokeUser string
	revoke := adminCommand("revoke [ID]", "End one session (ID) or all of a user's (--user)", cobra.MaximumNArgs(1),
		func(cmd *cobra.Command, c *adminclient.Client, args []string) error {
			switch {
			case len(args) == 1 && revokeUser == "":
				if err := c.RevokeSession(cmd.Context(), args[0]); err != nil {
					return fmt.Errorf("revoke session %s: %w (see `gatehouse admin sessions list` for IDs)", args[0], err)
				}
				say(cmd, "session %s ended", args[0])
			case len(args) == 0 && revokeUser != "":
				n, err := c.RevokeUserSessions(cmd.Context(), revokeUser)
				if err != nil {
					return err
				}
				say(cmd, "%d session(s) of %s ended", n, revokeUser)
			default:
				return fmt.Errorf("give either a session ID or --user NAME")
			}
			return nil
		})
	revoke.Flags().StringVar(&revokeUser, "user", "", "end every session of this user")
	return group("sessions", "List and end sign-in sessions", list, revoke)
}

func apiTokensCmd() *cobra.Command {
	var role, ttl string
	create := adminCommand("create NAME --role ROLE --ttl 30d", "Issue an API token (shown once); at most your own role", cobra.ExactArgs(1),
		func(cmd *cobra.Command, c *adminclient.Client, args []string) error {
			d, err := parseTTL(ttl)
			if err != nil {
				return err
			}
			t, err := c.CreateAPIToken(cmd.Context(), api.APITokenRequest{Name: args[0], Role: role, TTL: api.Duration(d)})
			if err != nil {
				return err
			}
			if printJSON(cmd, t) {
				return nil
			}
			say(cmd, "%s\n(API token %s %q, role %s, expires %s: shown once, store it now)", t.Token, t.ID, t.Name, t.Role, t.ExpiresAt.Local().Format(time.RFC1123))
			return nil
		})
	create.Flags().StringVar(&role, "role", "", "owner, admin, auditor or helpdesk")
	create.Flags().StringVar(&ttl, "ttl", "30d", "lifetime (e.g. 30d, 12h; at most 366d)")
	list := adminCommand("list", "List API tokens (never their secrets)", cobra.NoArgs,
		func(cmd *cobra.Command, c *adminclient.Client, _ []string) error {
			ts, err := adminclient.List[api.APIToken](cmd.Context(), c, api.PathAPITokens)
			if err != nil {
				return err
			}
			if printJSON(cmd, ts) {
				return nil
			}
			rows := make([][]string, len(ts))
			for i, t := range ts {
				state := "live"
				switch {
				case !t.RevokedAt.IsZero():
					state = "revoked " + stamp(t.RevokedAt)
				case !time.Now().Before(t.ExpiresAt):
					state = "expired"
				}
				rows[i] = []string{t.ID, t.Name, t.Role, t.CreatedBy, stamp(t.ExpiresAt), state}
			}
			table(cmd, "ID\tNAME\tROLE\tCREATED BY\tEXPIRES\tSTATE", rows)
			return nil
		})
	revoke := adminCommand("revoke ID", "Revoke an API token at once", cobra.ExactArgs(1),
		func(cmd *cobra.Command, c *adminclient.Client, args []string) error {
			if err := c.RevokeAPIToken(cmd.Context(), args[0]); err != nil {
				return fmt.Errorf("revoke API token %s: %w (see `gatehouse admin api-tokens list` for IDs)", args[0], err)
			}
			say(cmd, "API token %s revoked", args[0])
			return nil
		})
	return group("api-tokens", "Manage admin API tokens for automation", create, list, revoke)
}

func adminsCmd() *cobra.Command {
	list := adminCommand("list", "List the users holding an admin role", cobra.NoArgs,
		func(cmd *cobra.Command, c *adminclient.Client, _ []string) error {
			as, err := adminclient.List[api.AdminAccount](cmd.Context(), c, api.PathAdmins)
			if err != nil {
				return err
			}
			if printJSON(cmd, as) {
				return nil
			}
			rows := make([][]string, len(as))
			for i, a := range as {
				rows[i] = []string{a.User, a.Role, fmt.Sprint(a.Disabled)}
			}
			table(cmd, "USER\tROLE\tDISABLED", rows)
			return nil
		})
	return group("admins", "List admins (give roles with `admin users set-role`)", list)
}

func settingsCmd() *cobra.Command {
	show := adminCommand("show", "Show the controller's settings", cobra.NoArgs,
		func(cmd *cobra.Command, c *adminclient.Client, _ []string) error {
			s, err := c.Settings(cmd.Context())
			if err != nil {
				return err
			}
			if printJSON(cmd, s) {
				return nil
			}
			say(cmd, "device-approval  %s", onOff(s.DeviceApproval))
			return nil
		})
	set := adminCommand("set device-approval on|off", "New devices need an admin's approval (on) or not (off)", cobra.ExactArgs(2),
		func(cmd *cobra.Command, c *adminclient.Client, args []string) error {
			if args[0] != "device-approval" {
				return fmt.Errorf("unknown setting %q: the settings are: device-approval", args[0])
			}
			var on bool
			switch args[1] {
			case "on":
				on = true
			case "off":
			default:
				return fmt.Errorf("device-approval %q: say on or off", args[1])
			}
			s, err := c.Settings(cmd.Context())
			if err != nil {
				return err
			}
			s.DeviceApproval = on
			if err := c.SetSettings(cmd.Context(), s); err != nil {
				return err
			}
			say(cmd, "device-approval  %s", onOff(on))
			return nil
		})
	return group("settings", "Show and change controller settings", show, set)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// stamp is t for a table: local RFC 3339, or "-" when zero.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.RFC3339)
}
