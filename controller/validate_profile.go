package controller

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/policy"
)

// Bounds of a posture profile's newer fields.
const (
	maxProfileList     = 64        // forbidden software, required files, OS minimums
	maxDaysSinceUpdate = 10 * 366  // ten years: more is a typo
	maxSpecLen         = 4096 + 65 // PATH_MAX, ':' and a SHA-256
)

// osNameRE is an os_name key of MinOSVersions, as agents report it
// (ID in /etc/os-release: ubuntu, debian, rhel, opensuse-leap; macos).
var osNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,31}$`)

// knownOSNames are the os_name values the agents' collectors report; a
// key outside them and the families is refused as likely a typo.
var knownOSNames = []string{"ubuntu", "debian", "fedora", "rhel", "centos", "rocky", "almalinux", "ol", "amzn",
	"opensuse-leap", "opensuse-tumbleweed", "sles", "arch", "manjaro", "endeavouros", "gentoo", "void", "alpine", "linuxmint",
	"pop", "elementary", "zorin", "kali", "raspbian", "nixos",
	"macos", "windows"}

// validateProfileChecks checks the fields of issue 8 and the profile's
// condition; nothing is stored when it fails.
func validateProfileChecks(p *api.PostureProfile) error {
	bad := func(format string, args ...any) error {
		return Invalid("posture profile %q: %s", p.Name, fmt.Sprintf(format, args...))
	}
	if len(p.MinOSVersions) > maxProfileList {
		return bad("%d OS minimums; at most %d", len(p.MinOSVersions), maxProfileList)
	}
	for os, v := range p.MinOSVersions {
		if !policy.IsOSFamily(os) && !(osNameRE.MatchString(os) && slices.Contains(knownOSNames, os)) {
			return bad("--min-os %s=%s: %q is not an OS family (linux, darwin, windows) or a known os_name (%s)",
				Clip(os), Clip(v), Clip(os), strings.Join(knownOSNames, ", "))
		}
		if !versionRE.MatchString(v) {
			return bad("--min-os %s=%s: %q is not a version like 22.04 or 14.2.1", os, Clip(v), Clip(v))
		}
	}
	if p.MaxDaysSinceUpdate < 0 || p.MaxDaysSinceUpdate > maxDaysSinceUpdate {
		return bad("--max-days-since-update %d: use 0 (no limit) or 1 to %d days", p.MaxDaysSinceUpdate, maxDaysSinceUpdate)
	}
	if v := p.MinAgentVersion; v != "" && !versionRE.MatchString(strings.TrimPrefix(v, "v")) {
		return bad("--min-agent-version %q is not a release version like 1.4 or 1.4.2", Clip(v))
	}
	if err := validSpecs(p.ForbiddenSoftware, "--forbid", validForbidden); err != nil {
		return bad("%v", err)
	}
	if err := validSpecs(p.RequiredFiles, "--require-file", validFileSpec); err != nil {
		return bad("%v", err)
	}
	if err := policy.CheckCondition(p.Condition); err != nil {
		return bad("--condition: %v", err)
	}
	return nil
}

// validSpecs checks a list of specs with valid: bounded, no duplicates.
func validSpecs(specs []string, flag string, valid func(string) error) error {
	if len(specs) > maxProfileList {
		return fmt.Errorf("%s: %d entries; at most %d", flag, len(specs), maxProfileList)
	}
	for i, s := range specs {
		if len(s) > maxSpecLen {
			return fmt.Errorf("%s: an entry of %d bytes; at most %d", flag, len(s), maxSpecLen)
		}
		if slices.Contains(specs[:i], s) {
			return fmt.Errorf("%s %q is listed twice", flag, Clip(s))
		}
		if err := valid(s); err != nil {
			return fmt.Errorf("%s: %w", flag, err)
		}
	}
	return nil
}

// validForbidden is a forbidden-software spec (api.ParseSoftware): an
// absolute clean executable path with an optional SHA-256, sha256:HEX
// (that content anywhere), or a process name; not a package (a package
// says which file is genuine, not which must not run).
func validForbidden(spec string) error {
	s, err := api.ParseSoftware(spec)
	if err == nil && s.Package != "" {
		err = fmt.Errorf("forbidden software %q: name the executable (/usr/bin/nc[:sha256]) or its content (sha256:HEX), not a package", Clip(spec))
	}
	return err
}

// validFileSpec is a required file (api.ParseFileSpec): an absolute
// clean path, optionally ":" and its SHA-256 in 64 hex digits.
func validFileSpec(spec string) error {
	_, _, err := api.ParseFileSpec(spec)
	return err
}
