package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// explainCmd is `gatehouse admin explain`: how the controller decides
// one app for one device now.
func explainCmd() *cobra.Command {
	var user, device, app string
	cmd := &cobra.Command{
		Use:   "explain --device D --app A [--user U]",
		Short: "Show the whole evaluation of an app for a device: identity, policies, checks, conditions, exceptions, decision",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if device == "" || app == "" {
				return fmt.Errorf("give the device (--device, see `gatehouse admin devices list`) and the app (--app)")
			}
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			ex, err := c.Explain(cmd.Context(), user, device, app)
			if err != nil {
				return fmt.Errorf("explain %s on device %s: %w", app, device, err)
			}
			if printJSON(cmd, ex) {
				return nil
			}
			writeExplanation(cmd.OutOrStdout(), ex)
			return nil
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "the user (default: the device's owner; a device acts for its owner)")
	cmd.Flags().StringVar(&device, "device", "", "the device ID")
	cmd.Flags().StringVar(&app, "app", "", "the app")
	return cmd
}

// writeExplanation prints ex as readable text. Every value that came from
// a device or an admin is made printable.
func writeExplanation(out io.Writer, ex api.Explanation) {
	p := func(format string, args ...any) {
		for i, a := range args {
			if s, ok := a.(string); ok {
				args[i] = printable(s)
			}
		}
		fmt.Fprintf(out, format+"\n", args...)
	}
	verdict := "DENIED"
	if ex.Decision.Allowed {
		verdict = "ALLOWED"
	}
	p("%s: app %s for user %s on device %s at %s", verdict, ex.App, ex.User.Name, ex.Device.ID, ex.Time.UTC().Format(time.RFC3339))
	for _, r := range ex.Decision.Reasons {
		p("  - %s", r.Message)
		if r.Remediation != "" && !ex.Decision.Allowed {
			p("    fix: %s", r.Remediation)
		}
	}
	p("")
	groups := strings.Join(ex.User.Groups, ", ")
	if groups == "" {
		groups = "none"
	}
	userState := "enabled"
	switch {
	case !ex.User.Known:
		userState = "unknown"
	case ex.User.Disabled:
		userState = "disabled"
	}
	p("user %s: %s, groups: %s", ex.User.Name, userState, groups)
	if len(ex.User.Claims) > 0 {
		// Quoted: a value is the IdP's text, maybe the user's own.
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(ex.User.Claims)) {
			kv = append(kv, fmt.Sprintf("%s=%q", k, ex.User.Claims[k]))
		}
		p("  claims (user.claims, from the identity provider): %s", strings.Join(kv, ", "))
	}
	state := ex.Device.State
	if state == "" {
		state = "unknown"
	}
	online := "offline"
	if ex.Device.Online {
		online = "online"
	}
	posture := "no trusted posture report (every check is unknown)"
	if ex.Device.Posture {
		posture = "posture reported"
	}
	interactive := "acts on its enrollment"
	if ex.Device.Interactive {
		interactive = "interactive (needs a signed-in user)"
	}
	p("device %s: %s, %s, %s, %s", ex.Device.ID, state, online, interactive, posture)
	if len(ex.Device.Tags) > 0 {
		p("  tags: %s", strings.Join(ex.Device.Tags, ", "))
	}
	if s := ex.Session; s != nil {
		mfa := "no second factor"
		if !s.MFAAt.IsZero() {
			mfa = "second factor at " + s.MFAAt.UTC().Format(time.RFC3339)
		}
		p("session: signed in at %s (%s), %s", s.AuthAt.UTC().Format(time.RFC3339), strings.Join(s.Methods, "+"), mfa)
	} else {
		p("session: nobody signed in on the device")
	}
	if ex.Identity != nil {
		p("identity: %s", ex.Identity.Message)
	}
	p("")
	p("policies:")
	if len(ex.Policies) == 0 {
		p("  (none)")
	}
	for _, pol := range ex.Policies {
		if pol.Skipped != "" {
			p("  %s: skipped: %s", pol.Name, pol.Skipped)
			continue
		}
		result := "FAILS"
		if pol.Passed {
			result = "PASSES"
		}
		p("  %s: %s", pol.Name, result)
		if pol.SignInNeeds != "" {
			p("    sign-in needs: %s", pol.SignInNeeds)
		}
		if pol.SignIn != nil {
			p("    sign-in: %s", pol.SignIn.Message)
			if len(pol.Checks) > 0 {
				p("    (the policy stops at sign-in; its checks once signed in:)")
			}
		}
		for _, c := range pol.Checks {
			p("    %-8s %s/%s: %s", strings.ToUpper(c.Status), c.Profile, c.Check, c.Reason.Message)
			if c.Status != api.CheckPass && c.Reason.Remediation != "" {
				p("             fix: %s", c.Reason.Remediation)
			}
		}
		if pol.Condition != "" {
			p("    condition `%s`: %s", pol.Condition, pol.ConditionResult)
		}
	}
	if len(ex.Exceptions) > 0 {
		p("")
		p("exceptions:")
		for _, e := range ex.Exceptions {
			var state string
			switch {
			case !e.InForce:
				state = "EXPIRED, ignored"
			case len(e.Applied) > 0:
				state = "applied to " + strings.Join(e.Applied, ", ")
			default:
				state = "in force, nothing to waive"
			}
			p("  %s (%s) waives %s until %s, owner %s, reason %s: %s", e.ID, exceptionSubject(e.Exception),
				strings.Join(e.Checks, ", "), e.ExpiresAt.UTC().Format(exceptionTime), e.Owner, e.Reason, state)
		}
	}
}
