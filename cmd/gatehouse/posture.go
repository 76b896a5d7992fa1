package main

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse-ztna/gatehouse/api"
)

func postureCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "posture",
		Short: "Show every posture fact and every check: pass, fail or unknown",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := agentClient(cmd).Posture(cmd.Context())
			if err != nil {
				return err
			}
			if printJSON(cmd, p) {
				return nil
			}
			out := cmd.OutOrStdout()
			if p.Report == nil {
				fmt.Fprintln(out, "no posture collected yet")
				return nil
			}
			fmt.Fprintln(out, "facts:")
			var rows [][]string
			for _, f := range facts(*p.Report) {
				rows = append(rows, []string{"  " + f[0], f[1]})
			}
			table(cmd, "  FACT\tVALUE", rows)
			if len(p.Report.Overridden) > 0 {
				fmt.Fprintf(out, "  overridden by a development file, not collected: %s\n", strings.Join(p.Report.Overridden, ", "))
			}
			fmt.Fprintln(out, "\nchecks:")
			if len(p.Checks) == 0 {
				fmt.Fprintln(out, "  none (no policy for you requires a posture profile)")
			}
			rows = nil
			for _, c := range p.Checks {
				detail := c.Reason.Message
				if c.Status != api.CheckPass && c.Reason.Remediation != "" {
					detail += " — fix: " + c.Reason.Remediation
				}
				rows = append(rows, []string{"  " + c.Profile, c.Check, strings.ToUpper(c.Status), detail})
			}
			table(cmd, "  PROFILE\tCHECK\tSTATUS\tDETAIL", rows)
			return nil
		},
	}
}

// facts lists a report's facts by their JSON names, "unknown" for
// facts the OS would not tell.
func facts(r api.PostureReport) [][2]string {
	var out [][2]string
	v := reflect.ValueOf(r)
	for i := 0; i < v.NumField(); i++ {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		switch f := v.Field(i).Interface().(type) {
		case api.BoolFact:
			out = append(out, [2]string{name, withReason(show(f.Known, f.Value), f.Reason)})
		case api.StringFact:
			out = append(out, [2]string{name, withReason(show(f.Known, f.Value), f.Reason)})
		case api.IntFact:
			out = append(out, [2]string{name, show(f.Known, f.Value)})
		case map[string]api.BoolFact:
			keys := make([]string, 0, len(f))
			for k := range f {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				out = append(out, [2]string{specLabel[name] + " " + k, withReason(show(f[k].Known, f[k].Value), f[k].Reason)})
			}
		case string:
			out = append(out, [2]string{name, f})
		}
	}
	return out
}

// specLabel names the facts of a map of asked-for specs, by its JSON name
// (forbidden: true while the forbidden program runs).
var specLabel = map[string]string{"processes": "process", "forbidden": "forbidden running", "files": "file"}

// withReason adds why a fact is unknown, or what qualifies its value
// ("encryption in progress, 42% done").
func withReason(shown, reason string) string {
	if reason == "" {
		return shown
	}
	return shown + " (" + reason + ")"
}

func show(known bool, v any) string {
	if !known {
		return "unknown"
	}
	return fmt.Sprint(v)
}
