package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
)

// A posture profile's flags, shared by `profiles create` and `profiles
// update`: create takes every flag as given, update changes only the
// fields whose flags are given.

// profileFlags declares every posture profile flag on f.
func profileFlags(f *pflag.FlagSet) {
	f.String("os-family", "", "linux, darwin or windows")
	f.String("min-kernel", "", "minimum kernel version, e.g. 6.1")
	f.String("min-os-version", "", "minimum OS version whatever the OS, e.g. 12 (prefer --min-os per platform)")
	f.StringToString("min-os", nil, "minimum OS version per platform, OS=VERSION (repeatable or comma-separated): an os_family "+
		"(linux, darwin, windows) or os_name (ubuntu, debian, fedora, rhel, macos, …) key; os_name wins over its family; "+
		"a device whose platform has no key is not held to one. E.g. --min-os ubuntu=22.04,darwin=14.2,windows=10.0.22631")
	f.Bool("disk-encryption", false, "require an encrypted system disk (LUKS, FileVault, BitLocker)")
	f.Bool("firewall", false, "require an inbound-filtering firewall")
	f.Bool("screen-lock", false, "require the automatic screen lock")
	f.Bool("secure-boot", false, "require Secure Boot")
	f.Bool("auto-updates", false, "require automatic OS updates to be configured")
	f.Int("max-days-since-update", 0, "the OS packages were updated at most this many days ago (0: no limit)")
	f.String("min-agent-version", "", "minimum Gatehouse agent version, e.g. 1.4 (development builds fail)")
	f.StringSlice("require-process", nil, "process name that must be running (repeatable; any user can fake a name, prefer --require-software)")
	f.StringArray("require-software", nil, "PATH[:SHA256|:pkg=PACKAGE] of a root-owned executable that must be running as root (repeatable), e.g. /usr/sbin/sshd:pkg=openssh-server")
	f.StringArray("forbid", nil, "software that must not run: PATH[:SHA256] of an executable (renamed copies too), sha256:HEX, or a process name (repeatable), e.g. /usr/bin/anydesk")
	f.StringArray("require-file", nil, "PATH[:SHA256] of a file that must exist, with that content when a SHA-256 is given (repeatable), e.g. /etc/corp/ca.pem")
	f.Bool("sip", false, "macOS: require System Integrity Protection (other OSes pass)")
	f.Bool("gatekeeper", false, "macOS: require Gatekeeper (other OSes pass)")
	f.Bool("antivirus", false, "Windows: require Microsoft Defender real-time protection (other OSes pass)")
	f.Bool("domain-joined", false, "Windows: require the computer to be joined to a domain (other OSes pass)")
	f.String("condition", "", "a CEL expression over device.*, user.* and request.* that must be true too, "+
		"e.g. \"'corp' in device.tags\"; a false, failing or unknown result fails the profile's \"condition\" check (docs/decisions.md, Policy conditions in CEL)")
}

// applyProfileFlags sets the fields of p whose flags were given. A list
// flag replaces the whole list (give it once as "" to clear it); on
// update, --require-process and --require-software together replace the
// required software.
func applyProfileFlags(f *pflag.FlagSet, p *api.PostureProfile) {
	set := func(name string, apply func()) {
		if f.Changed(name) {
			apply()
		}
	}
	str := func(name string, dst *string) { set(name, func() { *dst, _ = f.GetString(name) }) }
	boolean := func(name string, dst *bool) { set(name, func() { *dst, _ = f.GetBool(name) }) }
	list := func(name string, dst *[]string) {
		set(name, func() {
			vs, _ := f.GetStringArray(name)
			*dst = nonEmpty(vs)
		})
	}
	str("os-family", &p.OSFamily)
	str("min-kernel", &p.MinKernel)
	str("min-os-version", &p.MinOSVersion)
	set("min-os", func() {
		m, _ := f.GetStringToString("min-os")
		p.MinOSVersions = nil
		for k, v := range m {
			if k != "" && v != "" {
				if p.MinOSVersions == nil {
					p.MinOSVersions = map[string]string{}
				}
				p.MinOSVersions[k] = v
			}
		}
	})
	boolean("disk-encryption", &p.DiskEncryption)
	boolean("firewall", &p.Firewall)
	boolean("screen-lock", &p.ScreenLock)
	boolean("secure-boot", &p.SecureBoot)
	boolean("auto-updates", &p.AutoUpdates)
	set("max-days-since-update", func() { p.MaxDaysSinceUpdate, _ = f.GetInt("max-days-since-update") })
	str("min-agent-version", &p.MinAgentVersion)
	if f.Changed("require-process") || f.Changed("require-software") {
		procs, _ := f.GetStringSlice("require-process")
		software, _ := f.GetStringArray("require-software")
		p.RequiredProcesses = nonEmpty(append(procs, software...))
	}
	list("forbid", &p.ForbiddenSoftware)
	list("require-file", &p.RequiredFiles)
	boolean("sip", &p.SIP)
	boolean("gatekeeper", &p.Gatekeeper)
	boolean("antivirus", &p.Antivirus)
	boolean("domain-joined", &p.DomainJoined)
	str("condition", &p.Condition)
}

func nonEmpty(vs []string) []string {
	var out []string
	for _, v := range vs {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// profileUpdateCmd changes the given fields of a posture profile.
func profileUpdateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "update NAME",
		Short: "Change a posture profile: only the fields whose flags are given (a list flag replaces its list; give it as \"\" to clear it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			p, err := adminclient.Get[api.PostureProfile](cmd.Context(), c, api.PathPostureProfiles, args[0])
			if err != nil {
				return err
			}
			applyProfileFlags(cmd.Flags(), &p)
			if err := adminclient.Update(cmd.Context(), c, api.PathPostureProfiles, p.Name, &p); err != nil {
				return err
			}
			cmd.Flags().Set("json", "true")
			printJSON(cmd, p)
			return nil
		},
	}
	profileFlags(cmd.Flags())
	return cmd
}

// profileChecks names the checks of p's newer fields, for the list.
func profileChecks(p api.PostureProfile) string {
	var out []string
	if len(p.MinOSVersions) > 0 {
		var mins []string
		for k, v := range p.MinOSVersions {
			mins = append(mins, k+">="+v)
		}
		sort.Strings(mins)
		out = append(out, "os "+strings.Join(mins, " "))
	}
	for name, on := range map[string]bool{"screen-lock": p.ScreenLock, "secure-boot": p.SecureBoot, "auto-updates": p.AutoUpdates,
		"sip": p.SIP, "gatekeeper": p.Gatekeeper, "antivirus": p.Antivirus, "domain-joined": p.DomainJoined} {
		if on {
			out = append(out, name)
		}
	}
	if p.MaxDaysSinceUpdate > 0 {
		out = append(out, fmt.Sprintf("updated<=%dd", p.MaxDaysSinceUpdate))
	}
	if p.MinAgentVersion != "" {
		out = append(out, "agent>="+p.MinAgentVersion)
	}
	for _, s := range p.ForbiddenSoftware {
		out = append(out, "forbid "+s)
	}
	for _, s := range p.RequiredFiles {
		out = append(out, "file "+s)
	}
	if p.Condition != "" {
		out = append(out, "condition "+strings.Join(strings.Fields(p.Condition), " "))
	}
	sort.Strings(out)
	return orDash(strings.Join(out, ", "))
}
