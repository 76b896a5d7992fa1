package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
)

// policyCmd is policy as code: the controller parses, checks and tests
// the file (it holds the engine), so every command needs it.
func policyCmd() *cobra.Command {
	export := &cobra.Command{
		Use: "export", Short: "Print the live policy as a policy file (HuJSON)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			e, err := c.PolicyExport(cmd.Context())
			if err != nil {
				return err
			}
			if printJSON(cmd, e) {
				return nil
			}
			out, _ := cmd.Flags().GetString("output")
			if out == "" {
				_, err = io.WriteString(cmd.OutOrStdout(), e.Source)
				return err
			}
			if err := os.WriteFile(out, []byte(e.Source), 0o644); err != nil {
				return fmt.Errorf("write %s: %w", out, err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s (version %s)\n", out, e.Version)
			return nil
		},
	}
	export.Flags().StringP("output", "o", "", "write the file here instead of standard output")

	diff := &cobra.Command{
		Use: "diff FILE", Short: "Show what applying FILE would change, and run its tests (nothing changes)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, plan, _, err := planFile(cmd, args[0])
			if err != nil || printJSON(cmd, plan) {
				return err
			}
			printChanges(cmd.OutOrStdout(), plan)
			return testSummary(cmd.OutOrStdout(), plan.Tests, false)
		},
	}
	test := &cobra.Command{
		Use: "test FILE", Short: "Run FILE's tests against FILE's policy with the controller's engine (nothing changes)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, plan, _, err := planFile(cmd, args[0])
			if err != nil || printJSON(cmd, plan.Tests) {
				return err
			}
			return testSummary(cmd.OutOrStdout(), plan.Tests, true)
		},
	}
	apply := &cobra.Command{
		Use:   "apply FILE",
		Short: "Make the live policy FILE's: its tests run first, and everything changes in one step or nothing does",
		Long: "apply shows the diff, then applies it if the file's tests pass (the controller runs them again) and the live\n" +
			"policy is still the one the diff was made against; if another admin changed it meanwhile, apply refuses:\n" +
			"run it again to see the new diff.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, plan, src, err := planFile(cmd, args[0])
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			printChanges(w, plan)
			if err := testSummary(w, plan.Tests, false); err != nil {
				return fmt.Errorf("%w; nothing was applied", err)
			}
			if len(plan.Changes) == 0 {
				fmt.Fprintln(w, "nothing to apply: the live policy is the file's")
				return nil
			}
			done, err := c.PolicyApply(cmd.Context(), args[0], src, plan.Version)
			if err != nil {
				return err
			}
			if printJSON(cmd, done) {
				return nil
			}
			fmt.Fprintf(w, "applied %d change(s); the live policy is version %s\n", len(done.Changes), done.NewVersion)
			return nil
		},
	}
	return group("policy", "Keep the policy as code: export, diff, test and apply one HuJSON file", export, diff, test, apply)
}

// planFile reads file and asks the controller for its plan.
func planFile(cmd *cobra.Command, file string) (*adminclient.Client, api.PolicyPlan, string, error) {
	src, err := readPolicyFile(file)
	if err != nil {
		return nil, api.PolicyPlan{}, "", err
	}
	c, err := admin(cmd)
	if err != nil {
		return nil, api.PolicyPlan{}, "", err
	}
	plan, err := c.PolicyPlan(cmd.Context(), file, src)
	return c, plan, src, err
}

func readPolicyFile(file string) (string, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return "", err
	}
	if fi.Size() > api.MaxPolicyFileBytes {
		return "", fmt.Errorf("%s is %d bytes; the controller takes at most %d", file, fi.Size(), api.MaxPolicyFileBytes)
	}
	b, err := os.ReadFile(file)
	return string(b), err
}

// printChanges prints a plan's changes, one object a line, changed
// fields indented under it.
func printChanges(w io.Writer, plan api.PolicyPlan) {
	if len(plan.Changes) == 0 {
		fmt.Fprintf(w, "no changes (live version %s)\n", plan.Version)
		return
	}
	fmt.Fprintf(w, "%d change(s) against live version %s:\n", len(plan.Changes), plan.Version)
	mark := map[string]string{api.PolicyCreated: "+", api.PolicyChanged: "~", api.PolicyDeleted: "-"}
	for _, ch := range plan.Changes {
		fmt.Fprintf(w, "%s %s %s (%s)\n", mark[ch.Kind], ch.Object, printable(ch.Name), ch.Kind)
		for _, f := range ch.Fields {
			fmt.Fprintf(w, "    %s: %s → %s\n", printable(f.Field), printable(orDash(f.Old)), printable(orDash(f.New)))
		}
	}
}

// testSummary prints failing tests (every test when all is set) and
// fails if any test failed.
func testSummary(w io.Writer, tests []api.PolicyTestResult, all bool) error {
	failed := 0
	for _, t := range tests {
		if !t.Passed {
			failed++
		}
		if t.Passed && !all {
			continue
		}
		verdict, codes := "PASS", make([]string, 0, len(t.Reasons))
		if !t.Passed {
			verdict = "FAIL"
		}
		for _, r := range t.Reasons {
			codes = append(codes, r.Code)
		}
		fmt.Fprintf(w, "%s  %s  (%s: %s)\n", verdict, printable(t.Name), map[bool]string{true: "allowed", false: "denied"}[t.Allowed], strings.Join(codes, ", "))
		if t.Failure != "" {
			fmt.Fprintf(w, "      %s\n", printable(t.Failure))
		}
	}
	fmt.Fprintf(w, "tests: %d passed, %d failed\n", len(tests)-failed, failed)
	if failed > 0 {
		return fmt.Errorf("%d of %d tests fail", failed, len(tests))
	}
	return nil
}
