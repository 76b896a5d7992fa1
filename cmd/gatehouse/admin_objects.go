package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-ztna/gatehouse/api"
)

func usersCmd() *cobra.Command {
	k := kind[api.User]{use: "users", path: api.PathUsers, header: "NAME\tEMAIL\tGROUPS",
		row: func(u api.User) []string { return []string{u.Name, u.Email, strings.Join(u.Groups, ",")} }}
	create := createCmd("create NAME", "Create a user", api.PathUsers, cobra.ExactArgs(1), func(cmd *cobra.Command, args []string) api.User {
		email, _ := cmd.Flags().GetString("email")
		groups, _ := cmd.Flags().GetStringSlice("groups")
		return api.User{Name: args[0], Email: email, Groups: groups}
	})
	create.Flags().String("email", "", "email address")
	create.Flags().StringSlice("groups", nil, "groups the user belongs to (made if missing)")
	return group("users", "Manage users", append(k.commands(), create)...)
}

func groupsCmd() *cobra.Command {
	k := kind[api.Group]{use: "groups", path: api.PathGroups, header: "NAME\tMEMBERS",
		row: func(g api.Group) []string { return []string{g.Name, strings.Join(g.Members, ",")} }}
	create := createCmd("create NAME", "Create a group", api.PathGroups, cobra.ExactArgs(1), func(_ *cobra.Command, args []string) api.Group {
		return api.Group{Name: args[0]}
	})
	member := func(use, short string, add bool) *cobra.Command {
		return &cobra.Command{Use: use + " GROUP USER", Short: short, Args: cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := admin(cmd)
				if err != nil {
					return err
				}
				if add {
					err = c.AddMember(cmd.Context(), args[0], args[1])
				} else {
					err = c.RemoveMember(cmd.Context(), args[0], args[1])
				}
				if err == nil {
					fmt.Fprintf(cmd.OutOrStdout(), "%s: %s %s\n", args[0], use, args[1])
				}
				return err
			}}
	}
	return group("groups", "Manage groups", append(k.commands(), create,
		member("add-member", "Put a user in a group", true),
		member("remove-member", "Take a user out of a group (their access is re-decided at once)", false))...)
}

func appsAdminCmd() *cobra.Command {
	k := kind[api.App]{use: "apps", path: api.PathApps, header: "NAME\tVIRTUAL IP\tUPSTREAMS\tGATEWAY",
		row: func(a api.App) []string {
			return []string{a.Name, a.VirtualIP, strings.Join(a.Upstreams, ","), a.Gateway}
		}}
	create := createCmd("create NAME --upstream HOST:PORT", "Create an app", api.PathApps, cobra.ExactArgs(1), func(cmd *cobra.Command, args []string) api.App {
		ups, _ := cmd.Flags().GetStringSlice("upstream")
		gw, _ := cmd.Flags().GetString("gateway")
		return api.App{Name: args[0], Upstreams: ups, Gateway: gw}
	})
	create.Flags().StringSlice("upstream", nil, "host:port the gateway forwards to (repeatable, one per port)")
	create.Flags().String("gateway", "", "the gateway in front of the app (see `gatehouse admin gateways`; default: the controller's embedded one)")
	return group("apps", "Manage apps", append(k.commands(), create)...)
}

func profilesCmd() *cobra.Command {
	k := kind[api.PostureProfile]{use: "posture profiles", path: api.PathPostureProfiles,
		header: "NAME\tOS\tMIN KERNEL\tMIN OS\tDISK ENC\tFIREWALL\tPROCESSES\tOTHER CHECKS",
		row: func(p api.PostureProfile) []string {
			return []string{p.Name, p.OSFamily, p.MinKernel, p.MinOSVersion, fmt.Sprint(p.DiskEncryption),
				fmt.Sprint(p.Firewall), strings.Join(p.RequiredProcesses, ","), profileChecks(p)}
		}}
	create := createCmd("create NAME", "Create a posture profile", api.PathPostureProfiles, cobra.ExactArgs(1), func(cmd *cobra.Command, args []string) api.PostureProfile {
		p := api.PostureProfile{Name: args[0]}
		applyProfileFlags(cmd.Flags(), &p)
		return p
	})
	profileFlags(create.Flags())
	return group("profiles", "Manage posture profiles", append(k.commands(), create, profileUpdateCmd())...)
}

func policiesCmd() *cobra.Command {
	k := kind[api.Policy]{use: "policies", path: api.PathPolicies, header: "NAME\tGROUPS\tAPPS\tPOSTURE PROFILES\tSIGN-IN\tCONDITION",
		row: func(p api.Policy) []string {
			return []string{p.Name, strings.Join(p.Groups, ","), strings.Join(p.Apps, ","), strings.Join(p.PostureProfiles, ","), signInNeeds(p), orDash(strings.Join(strings.Fields(p.Condition), " "))}
		}}
	create := createCmd("create NAME --groups G --apps A", "Create an access policy", api.PathPolicies, cobra.ExactArgs(1), func(cmd *cobra.Command, args []string) api.Policy {
		f := cmd.Flags()
		p := api.Policy{Name: args[0]}
		p.Groups, _ = f.GetStringSlice("groups")
		p.Apps, _ = f.GetStringSlice("apps")
		p.PostureProfiles, _ = f.GetStringSlice("profiles")
		p.RequireSignIn, _ = f.GetBool("require-signin")
		p.RequireMFA, _ = f.GetBool("require-mfa")
		mfaAge, _ := f.GetDuration("mfa-max-age")
		sessAge, _ := f.GetDuration("session-max-age")
		p.MFAMaxAge, p.SessionMaxAge = api.Duration(mfaAge), api.Duration(sessAge)
		p.Condition, _ = f.GetString("condition")
		p.Approvers, _ = f.GetString("approvers")
		maxAccess, _ := f.GetDuration("max-access")
		p.MaxAccess = api.Duration(maxAccess)
		return p
	})
	create.Flags().StringSlice("groups", nil, "groups this policy lets in")
	create.Flags().StringSlice("apps", nil, "apps they may reach")
	create.Flags().StringSlice("profiles", nil, "posture profiles a device must pass")
	create.Flags().Bool("require-signin", false, "require a signed-in user on the device (gatehouse login); devices enrolled with a token alone are denied")
	create.Flags().Bool("require-mfa", false, "require a second factor (TOTP or a passkey) in the session (implies --require-signin)")
	create.Flags().Duration("mfa-max-age", 0, "how long ago the second factor may have been used, e.g. 12h (implies --require-mfa)")
	create.Flags().Duration("session-max-age", 0, "how long ago the user may have signed in, e.g. 24h (implies --require-signin)")
	create.Flags().String("condition", "", "a CEL expression that must also be true, e.g. 'request.time.getHours(\"Europe/Berlin\") >= 9' over device.*, user.*, request.* (docs/decisions.md, Policy conditions in CEL)")
	create.Flags().String("approvers", "", "make access just-in-time: the group whose members approve requests (gatehouse request APP)")
	create.Flags().Duration("max-access", 0, "the longest access one request may get, e.g. 8h (default 8h, at most 168h; needs --approvers)")
	return group("policies", "Manage access policies", append(k.commands(), create)...)
}

// signInNeeds is a policy's sign-in needs for a table cell.
func signInNeeds(p api.Policy) string {
	var needs []string
	switch {
	case p.MFAMaxAge != 0:
		needs = append(needs, "mfa<="+time.Duration(p.MFAMaxAge).String())
	case p.RequireMFA:
		needs = append(needs, "mfa")
	case p.RequireSignIn && p.SessionMaxAge == 0:
		needs = append(needs, "yes")
	}
	if p.SessionMaxAge != 0 {
		needs = append(needs, "session<="+time.Duration(p.SessionMaxAge).String())
	}
	if len(needs) == 0 {
		return "-"
	}
	return strings.Join(needs, ",")
}

// orDash is s for a table cell, "-" when empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
