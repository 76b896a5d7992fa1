package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/api"
)

// watchStatus is `gatehouse status --watch`: it follows the agent's watch
// stream and prints the state, then one line per change, each stamped
// with the time; with --json, each update as one line of JSON. It ends
// when the agent does (the error says why): run it again to go on.
func watchStatus(cmd *cobra.Command) error {
	ctx := cmd.Context()
	out := cmd.OutOrStdout()
	asJSON, _ := cmd.Flags().GetBool("json")
	enc := json.NewEncoder(out)
	var prev *localapi.Update
	for u, err := range agentClient(cmd).Watch(ctx) {
		if err != nil {
			if ctx.Err() != nil {
				return nil // interrupted: not a failure
			}
			return err
		}
		if asJSON {
			enc.Encode(u)
		} else {
			for _, l := range changeLines(prev, u) {
				fmt.Fprintf(out, "%s %s\n", time.Now().Format(time.TimeOnly), l)
			}
		}
		prev = &u
	}
	return nil
}

// changeLines are the lines `status --watch` prints for u after prev:
// what changed, one line each, or the whole state when prev is nil.
func changeLines(prev *localapi.Update, u localapi.Update) []string {
	var was localapi.Update
	if prev != nil {
		was = *prev
	}
	var lines []string
	line := func(before, now string) {
		if before != now && now != "" {
			lines = append(lines, now)
		}
	}
	line(controllerLine(was.Status), controllerLine(u.Status))
	line(watchSessionLine(was.Status), watchSessionLine(u.Status))
	line(loginLine(was.Login), loginLine(u.Login))
	// Apps: an access change is said by its event; any other change
	// (address, tunnel, reasons) by the app's line.
	evented := map[string]bool{}
	for _, e := range u.Events {
		lines = append(lines, printable(e.Text()))
		evented[e.App] = true
	}
	before := map[string]string{}
	for _, a := range was.Apps {
		before[a.Name] = appLine(a)
	}
	listed := map[string]bool{}
	for _, a := range u.Apps {
		listed[a.Name] = true
		if now := appLine(a); now != before[a.Name] && !evented[a.Name] {
			lines = append(lines, now)
		}
	}
	for _, a := range was.Apps {
		if !listed[a.Name] {
			lines = append(lines, printable(a.Name)+": no longer listed")
		}
	}
	checks := map[string]string{}
	if was.Posture != nil {
		for _, c := range was.Posture.Checks {
			checks[c.Profile+"/"+c.Check] = checkLine(c)
		}
	}
	if u.Posture != nil {
		for _, c := range u.Posture.Checks {
			line(checks[c.Profile+"/"+c.Check], checkLine(c))
		}
	}
	return lines
}

func controllerLine(s *localapi.Status) string {
	if s == nil {
		return ""
	}
	if s.Connected {
		return "controller " + printable(s.Controller) + ": connected"
	}
	l := "controller " + printable(s.Controller) + ": NOT connected"
	if s.LastError != "" {
		l += " (" + printable(s.LastError) + ")"
	}
	return l
}

func watchSessionLine(s *localapi.Status) string {
	if s == nil {
		return ""
	}
	// The token's expiry moves at each refresh; it is not a change.
	sess := s.Session
	sess.ExpiresAt = time.Time{}
	l := sessionLine(sess)
	l, _, _ = strings.Cut(l, ", access token until")
	return "session: " + l
}

func loginLine(l *localapi.Login) string {
	if l == nil {
		return ""
	}
	switch l.State {
	case localapi.LoginPending:
		page := l.VerificationURIComplete
		if page == "" {
			page = l.VerificationURI
		}
		return "sign-in pending: open " + printable(page) + " and enter code " + printable(l.UserCode)
	case localapi.LoginFailed:
		return "sign-in failed: " + printable(l.Error)
	case localapi.LoginSignedIn:
		return "sign-in finished: signed in as " + printable(l.User)
	}
	return ""
}

// appLine is one app in one line: allowed (until when, where, tunnel)
// or blocked, why and the fix.
func appLine(a localapi.App) string {
	var b strings.Builder
	b.WriteString(printable(a.Name) + ": ")
	if a.Allowed {
		b.WriteString("allowed")
		if !a.AccessUntil.IsZero() {
			b.WriteString(" until " + a.AccessUntil.Local().Format(time.DateTime))
		}
		if len(a.LocalAddrs) > 0 {
			b.WriteString(" at " + printable(strings.Join(a.LocalAddrs, " ")))
		}
		if a.TunnelUp {
			b.WriteString(", tunnel up")
		}
		return b.String()
	}
	b.WriteString("blocked")
	if len(a.Reasons) > 0 {
		b.WriteString(": " + printable(reasonsWithFixes(a.Reasons)))
	}
	return b.String()
}

func checkLine(c api.CheckResult) string {
	l := "posture " + printable(c.Profile+"/"+c.Check) + ": " + c.Status
	if c.Status != api.CheckPass && c.Reason.Message != "" {
		l += ": " + printable(reasonsWithFixes([]api.Reason{c.Reason}))
	}
	return l
}

// reasonsWithFixes is each reason's message with its fix.
func reasonsWithFixes(rs []api.Reason) string {
	parts := make([]string, 0, len(rs))
	for _, r := range rs {
		p := r.Message
		if r.Remediation != "" {
			p += " (fix: " + r.Remediation + ")"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}
