package posture

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// Parsers for the macOS tools collect_darwin.go runs. They are plain Go so
// that their tests run on any OS against the recorded outputs in
// testdata/darwin. Each takes the tool's output (the collector runs it with
// LC_ALL=C) and the source to name in the fact.

// Sources of the macOS facts: the commands, as run.
const (
	srcFileVault    = "/usr/bin/fdesetup status"
	srcAppFirewall  = "/usr/libexec/ApplicationFirewall/socketfilterfw --getglobalstate"
	srcSIP          = "/usr/bin/csrutil status"
	srcGatekeeper   = "/usr/sbin/spctl --status"
	srcSwVers       = "/usr/bin/sw_vers"
	srcMacScreenLck = "/usr/sbin/sysadminctl -screenLock status"
)

var fileVaultProgress = regexp.MustCompile(`(Encryption|Decryption) in progress: Percent completed = (\d+)`)

// parseFileVault reads `fdesetup status`. Encryption still in progress is
// "off": the disk is not yet protected.
func parseFileVault(out string) api.BoolFact {
	if m := fileVaultProgress.FindStringSubmatch(out); m != nil {
		return api.BoolFact{Known: true, Source: srcFileVault,
			Reason: strings.ToLower(m[1]) + " in progress, " + m[2] + "% done"}
	}
	switch {
	case strings.Contains(out, "FileVault is On."):
		return knownBoolFrom(true, srcFileVault)
	case strings.Contains(out, "FileVault is Off."):
		return knownBoolFrom(false, srcFileVault)
	}
	return unknownBool(srcFileVault, unrecognised(out))
}

var firewallState = regexp.MustCompile(`\(State = (\d)\)`)

// parseAppFirewall reads `socketfilterfw --getglobalstate`: state 0 is off,
// 1 is on, 2 is on and blocking all incoming connections.
func parseAppFirewall(out string) api.BoolFact {
	if m := firewallState.FindStringSubmatch(out); m != nil {
		switch m[1] {
		case "0":
			return knownBoolFrom(false, srcAppFirewall)
		case "1":
			return knownBoolFrom(true, srcAppFirewall)
		case "2":
			f := knownBoolFrom(true, srcAppFirewall)
			f.Reason = "blocking all incoming connections"
			return f
		}
		return unknownBool(srcAppFirewall, "unknown firewall state "+m[1])
	}
	switch {
	case strings.Contains(out, "Firewall is enabled"):
		return knownBoolFrom(true, srcAppFirewall)
	case strings.Contains(out, "Firewall is disabled"):
		return knownBoolFrom(false, srcAppFirewall)
	}
	return unknownBool(srcAppFirewall, unrecognised(out))
}

// parseSIP reads `csrutil status`. A custom configuration (some protections
// switched off in recovery) counts as off: the parts that matter to us may
// be the ones disabled.
func parseSIP(out string) api.BoolFact {
	const prefix = "System Integrity Protection status:"
	_, rest, ok := strings.Cut(out, prefix)
	if !ok {
		return unknownBool(srcSIP, unrecognised(out))
	}
	status, _, _ := strings.Cut(strings.TrimSpace(rest), "\n")
	status = strings.TrimSpace(status)
	switch {
	case strings.Contains(status, "Custom Configuration"):
		f := knownBoolFrom(false, srcSIP)
		f.Reason = "custom configuration: some protections are disabled"
		return f
	case strings.HasPrefix(status, "enabled"):
		return knownBoolFrom(true, srcSIP)
	case strings.HasPrefix(status, "disabled"):
		return knownBoolFrom(false, srcSIP)
	}
	return unknownBool(srcSIP, unrecognised(out))
}

// parseGatekeeper reads `spctl --status`.
func parseGatekeeper(out string) api.BoolFact {
	switch strings.TrimSpace(out) {
	case "assessments enabled":
		return knownBoolFrom(true, srcGatekeeper)
	case "assessments disabled":
		return knownBoolFrom(false, srcGatekeeper)
	}
	return unknownBool(srcGatekeeper, unrecognised(out))
}

// parseSwVers reads `sw_vers`: ProductVersion (14.4.1) and BuildVersion
// (23E224).
func parseSwVers(out string) (version, build api.StringFact) {
	kv := make(map[string]string)
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	version = unknownString(srcSwVers, "no ProductVersion in "+unrecognised(out))
	if v := kv["ProductVersion"]; v != "" {
		version = knownStringFrom(v, srcSwVers)
	}
	build = unknownString(srcSwVers, "no BuildVersion in "+unrecognised(out))
	if v := kv["BuildVersion"]; v != "" {
		build = knownStringFrom(v, srcSwVers)
	}
	return version, build
}

var screenLockDelay = regexp.MustCompile(`screenLock delay is (immediate|(\d+) seconds)`)

// parseSysadminctlScreenLock reads `sysadminctl -screenLock status`, which
// writes to stderr ("2024-03-01 ... sysadminctl[812:9001] screenLock delay
// is immediate"). The delay goes into Reason; the value only says whether
// the screen locks at all.
func parseSysadminctlScreenLock(out string) api.BoolFact {
	if m := screenLockDelay.FindStringSubmatch(out); m != nil {
		f := knownBoolFrom(true, srcMacScreenLck)
		f.Reason = "password required immediately"
		if m[2] != "" {
			if _, err := strconv.Atoi(m[2]); err == nil {
				f.Reason = "password required after " + m[2] + " s"
			}
		}
		return f
	}
	if strings.Contains(out, "screenLock is off") {
		return knownBoolFrom(false, srcMacScreenLck)
	}
	return unknownBool(srcMacScreenLck, unrecognised(out))
}
