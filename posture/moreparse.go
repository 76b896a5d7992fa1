package posture

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// Parsers for the machine ID and automatic updates on macOS and Windows
// (collect_darwin.go, collect_windows.go). Plain Go, tested on every OS
// against the recorded outputs in testdata/darwin and testdata/windows.

// Sources of these facts, as run.
const (
	srcIoreg          = "/usr/sbin/ioreg -rd1 -c IOPlatformExpertDevice"
	srcMacSoftwareUpd = "/usr/bin/defaults read /Library/Preferences/com.apple.SoftwareUpdate"
	srcWinMachineGuid = `registry: HKLM\SOFTWARE\Microsoft\Cryptography MachineGuid`
	srcWinUpdate      = `registry: HKLM\SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate\AU, HKLM\SOFTWARE\Microsoft\WindowsUpdate\UX\Settings PauseUpdatesExpiryTime; Get-Service wuauserv`
)

var (
	ioregUUID = regexp.MustCompile(`"IOPlatformUUID" = "([0-9A-Fa-f-]+)"`)
	guidForm  = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`)
)

// parseIoregUUID reads the hardware UUID (IOPlatformUUID) from ioreg.
func parseIoregUUID(out string) api.StringFact {
	m := ioregUUID.FindStringSubmatch(out)
	if m == nil || !guidForm.MatchString(m[1]) {
		return unknownString(srcIoreg, unrecognised(out))
	}
	return knownStringFrom(strings.ToUpper(m[1]), srcIoreg)
}

var defaultsKey = regexp.MustCompile(`(?m)^\s*"?(\w+)"?\s*=\s*"?([^";]*)"?;`)

// parseMacSoftwareUpdate reads `defaults read` of the SoftwareUpdate
// preferences: automatic updates are on when macOS updates are installed
// automatically (AutomaticallyInstallMacOSUpdates = 1). Not set is
// unknown: the default depends on the macOS release, and settings pushed
// by MDM (/Library/Managed Preferences) are not read here.
func parseMacSoftwareUpdate(out string) api.BoolFact {
	kv := make(map[string]string)
	for _, m := range defaultsKey.FindAllStringSubmatch(out, -1) {
		kv[m[1]] = strings.TrimSpace(m[2])
	}
	if strings.Contains(out, "does not exist") {
		return unknownBool(srcMacSoftwareUpd, "no SoftwareUpdate preferences: the macOS default applies (not read)")
	}
	switch v, ok := kv["AutomaticallyInstallMacOSUpdates"]; {
	case !ok && len(kv) == 0:
		return unknownBool(srcMacSoftwareUpd, unrecognised(out))
	case !ok:
		return unknownBool(srcMacSoftwareUpd, "AutomaticallyInstallMacOSUpdates is not set: the macOS default applies (not read)")
	case v == "1":
		return api.BoolFact{Value: true, Known: true, Source: srcMacSoftwareUpd, Reason: "AutomaticallyInstallMacOSUpdates = 1"}
	case v == "0":
		return api.BoolFact{Known: true, Source: srcMacSoftwareUpd, Reason: "AutomaticallyInstallMacOSUpdates = 0 (System Settings › General › Software Update › Automatic Updates)"}
	}
	return unknownBool(srcMacSoftwareUpd, "AutomaticallyInstallMacOSUpdates = "+kv["AutomaticallyInstallMacOSUpdates"])
}

// parseWinMachineGuid reads the MachineGuid section: a JSON string.
func parseWinMachineGuid(out string) api.StringFact {
	objs, err := decodeJSONString(out)
	if err != nil || !guidForm.MatchString(objs) {
		return unknownString(srcWinMachineGuid, unrecognised(out))
	}
	return knownStringFrom(strings.ToLower(objs), srcWinMachineGuid)
}

// Windows Update policy values (AUOptions) and the service's start mode.
const (
	auNotifyDownload   = 2
	auAutoDownload     = 3
	auAutoInstall      = 4
	auLocalAdmin       = 5
	auNotifyInstall    = 7
	serviceDisabled    = 4
	winPauseTimeLayout = time.RFC3339
)

var serviceStartNames = map[string]int64{"Boot": 0, "System": 1, "Automatic": 2, "Manual": 3, "Disabled": 4}

// parseWinUpdate reads the Update section: Windows installs updates by
// itself unless the Windows Update service is disabled, a policy turns
// automatic updates off or down to notifying/downloading, or updates are
// paused (until PauseUpdatesExpiryTime, compared with now).
func parseWinUpdate(out string, now time.Time) api.BoolFact {
	objs, err := decodeObjects(out)
	if err != nil || len(objs) != 1 {
		return unknownBool(srcWinUpdate, unrecognised(out))
	}
	o := objs[0]
	off := func(why string) api.BoolFact { return api.BoolFact{Known: true, Source: srcWinUpdate, Reason: why} }
	if v := o["ServiceStartType"]; v.present() {
		if start, ok := v.enum(serviceStartNames); ok && start == serviceDisabled {
			return off("the Windows Update service (wuauserv) is disabled")
		}
	}
	if v := o["NoAutoUpdate"]; v.present() {
		if n, ok := v.int(); ok && n == 1 {
			return off("policy NoAutoUpdate = 1: automatic updates are off")
		}
	}
	if v := o["PauseUpdatesExpiryTime"]; v.present() {
		s, _ := v.str()
		if until, err := time.Parse(winPauseTimeLayout, s); err == nil && until.After(now) {
			return off("updates are paused until " + until.UTC().Format(time.RFC3339))
		}
	}
	if v := o["AUOptions"]; v.present() {
		n, ok := v.int()
		switch {
		case !ok:
		case n == auAutoInstall:
			return api.BoolFact{Value: true, Known: true, Source: srcWinUpdate, Reason: "policy AUOptions = 4: download and install on a schedule"}
		case n == auNotifyDownload || n == auAutoDownload || n == auNotifyInstall:
			return off(fmt.Sprintf("policy AUOptions = %d: updates wait for the user to install them", n))
		case n == auLocalAdmin:
			return unknownBool(srcWinUpdate, "policy AUOptions = 5: left to the local administrator's setting (not read)")
		}
		return unknownBool(srcWinUpdate, "policy AUOptions: "+unrecognised(string(v.raw)))
	}
	return api.BoolFact{Value: true, Known: true, Source: srcWinUpdate, Reason: "no Windows Update policy and not paused: Windows downloads and installs updates by itself"}
}

// decodeJSONString reads a ConvertTo-Json string scalar.
func decodeJSONString(out string) (string, error) {
	var v jsonValue
	b := strings.TrimPrefix(strings.TrimSpace(out), "\xef\xbb\xbf")
	if err := v.UnmarshalJSON([]byte(b)); err != nil || !v.present() {
		return "", fmt.Errorf("empty output")
	}
	s, ok := v.str()
	if !ok || !strings.HasPrefix(b, `"`) {
		return "", fmt.Errorf("not a JSON string")
	}
	return s, nil
}
