package posture

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// Parsers for the PowerShell outputs collect_windows.go reads. They are
// plain Go so that their tests run on any OS against the recorded outputs
// in testdata/windows. Every cmdlet's output is piped through ConvertTo-Json:
// JSON numbers, booleans and enum values (serialised as numbers) do not
// depend on the display language, unlike Format-List text.

// Sources of the Windows facts: the PowerShell commands, as run.
const (
	srcBitLocker   = "Get-BitLockerVolume -MountPoint $env:SystemDrive"
	srcDefender    = "Get-MpComputerStatus"
	srcWinFirewall = "Get-NetFirewallProfile -PolicyStore ActiveStore"
	srcWinOS       = "Get-CimInstance Win32_OperatingSystem"
	srcWinComputer = "Get-CimInstance Win32_ComputerSystem"
	srcWinScreen   = `registry: HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System InactivityTimeoutSecs, HKCU\Control Panel\Desktop ScreenSave*`
)

// jsonValue is a PowerShell JSON scalar: enums come as numbers, or as
// names with -EnumsAsStrings (PowerShell 7); booleans as true/false, or as
// GpoBoolean numbers; registry REG_SZ values as strings.
type jsonValue struct {
	raw json.RawMessage
}

func (v *jsonValue) UnmarshalJSON(b []byte) error {
	v.raw = append(json.RawMessage(nil), b...)
	return nil
}

func (v jsonValue) present() bool {
	return len(v.raw) > 0 && string(v.raw) != "null"
}

// int reads a number, or a string holding one.
func (v jsonValue) int() (int64, bool) {
	var n json.Number
	if err := json.Unmarshal(v.raw, &n); err == nil {
		i, err := n.Int64()
		return i, err == nil
	}
	var s string
	if err := json.Unmarshal(v.raw, &s); err == nil {
		i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		return i, err == nil
	}
	return 0, false
}

// str reads a string, or a number as its decimal text.
func (v jsonValue) str() (string, bool) {
	var s string
	if err := json.Unmarshal(v.raw, &s); err == nil {
		return s, true
	}
	if i, ok := v.int(); ok {
		return strconv.FormatInt(i, 10), true
	}
	return "", false
}

// bool reads true/false, 1/0, or "True"/"False" (GpoBoolean names).
func (v jsonValue) bool() (bool, bool) {
	var b bool
	if err := json.Unmarshal(v.raw, &b); err == nil {
		return b, true
	}
	if i, ok := v.int(); ok && (i == 0 || i == 1) {
		return i == 1, true
	}
	if s, ok := v.str(); ok {
		switch strings.ToLower(s) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}

// enum reads an enum as its number, accepting its name from names.
func (v jsonValue) enum(names map[string]int64) (int64, bool) {
	if i, ok := v.int(); ok {
		return i, true
	}
	if s, ok := v.str(); ok {
		i, ok := names[s]
		return i, ok
	}
	return 0, false
}

// decodeObjects decodes a ConvertTo-Json output: one object, or an array of
// them when the cmdlet returned several.
func decodeObjects(out string) ([]map[string]jsonValue, error) {
	b := bytes.TrimSpace([]byte(out))
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) // PowerShell 5.1 may write a BOM
	if len(b) == 0 {
		return nil, fmt.Errorf("empty output")
	}
	if b[0] == '[' {
		var many []map[string]jsonValue
		if err := json.Unmarshal(b, &many); err != nil {
			return nil, fmt.Errorf("not JSON: %w", err)
		}
		return many, nil
	}
	var one map[string]jsonValue
	if err := json.Unmarshal(b, &one); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	return []map[string]jsonValue{one}, nil
}

// BitLocker enums (Microsoft.BitLocker.Structures).
const (
	bitLockerProtectionOn = 1 // BitLockerVolumeProtectionStatus.On
	bitLockerFullyEncrypt = 1 // BitLockerVolumeStatus.FullyEncrypted
)

var (
	bitLockerProtectionNames = map[string]int64{"Off": 0, "On": 1, "Unknown": 2}
	bitLockerVolumeNames     = map[string]int64{"FullyDecrypted": 0, "FullyEncrypted": 1,
		"EncryptionInProgress": 2, "DecryptionInProgress": 3, "EncryptionPaused": 4, "DecryptionPaused": 5}
	bitLockerVolumeText = map[int64]string{0: "fully decrypted", 1: "fully encrypted",
		2: "encryption in progress", 3: "decryption in progress", 4: "encryption paused", 5: "decryption paused"}
)

// parseBitLocker reads Get-BitLockerVolume for the system drive. The disk
// counts as encrypted only when fully encrypted with protection on: a
// suspended protector leaves the key in the clear on the disk.
func parseBitLocker(out string) api.BoolFact {
	objs, err := decodeObjects(out)
	if err != nil {
		return unknownBool(srcBitLocker, err.Error()+" (Get-BitLockerVolume needs an administrator)")
	}
	if len(objs) != 1 {
		return unknownBool(srcBitLocker, fmt.Sprintf("%d volumes for the system drive, want 1", len(objs)))
	}
	o := objs[0]
	prot, okP := o["ProtectionStatus"].enum(bitLockerProtectionNames)
	vol, okV := o["VolumeStatus"].enum(bitLockerVolumeNames)
	if !okP || !okV {
		return unknownBool(srcBitLocker, "no ProtectionStatus or VolumeStatus")
	}
	if vol != bitLockerFullyEncrypt {
		f := knownBoolFrom(false, srcBitLocker)
		f.Reason = bitLockerVolumeText[vol]
		if f.Reason == "" {
			f = unknownBool(srcBitLocker, fmt.Sprintf("unknown VolumeStatus %d", vol))
		}
		return f
	}
	switch prot {
	case bitLockerProtectionOn:
		return knownBoolFrom(true, srcBitLocker)
	case 0:
		f := knownBoolFrom(false, srcBitLocker)
		f.Reason = "encrypted but protection is suspended"
		return f
	}
	return unknownBool(srcBitLocker, "protection status unknown (volume locked?)")
}

// parseDefender reads Get-MpComputerStatus. Defender in passive mode means
// another antivirus product is registered; this collector does not read
// that product, so the fact is unknown rather than off.
func parseDefender(out string) api.BoolFact {
	objs, err := decodeObjects(out)
	if err != nil || len(objs) != 1 {
		reason := "want one object"
		if err != nil {
			reason = err.Error()
		}
		return unknownBool(srcDefender, reason+" (is the Defender service running?)")
	}
	o := objs[0]
	if mode, ok := o["AMRunningMode"].str(); ok && mode != "" && mode != "Normal" {
		return unknownBool(srcDefender, "Defender running mode is "+mode+": another antivirus may protect this machine, and it is not read")
	}
	av, okA := o["AntivirusEnabled"].bool()
	rtp, okR := o["RealTimeProtectionEnabled"].bool()
	if !okA || !okR {
		return unknownBool(srcDefender, "no AntivirusEnabled or RealTimeProtectionEnabled")
	}
	switch {
	case !av:
		f := knownBoolFrom(false, srcDefender)
		f.Reason = "antivirus disabled"
		return f
	case !rtp:
		f := knownBoolFrom(false, srcDefender)
		f.Reason = "real-time protection off"
		return f
	}
	return knownBoolFrom(true, srcDefender)
}

// NetSecurity.Action values for DefaultInboundAction.
var firewallActionNames = map[string]int64{"NotConfigured": 0, "Allow": 2, "Block": 4}

const firewallActionAllow = 2

// parseWinFirewall reads Get-NetFirewallProfile: on only when every profile
// (Domain, Private, Public) is enabled and does not allow inbound by
// default. NotConfigured inbound falls back to Windows' default, Block.
func parseWinFirewall(out string) api.BoolFact {
	objs, err := decodeObjects(out)
	if err != nil {
		return unknownBool(srcWinFirewall, err.Error())
	}
	if len(objs) == 0 {
		return unknownBool(srcWinFirewall, "no firewall profiles")
	}
	for _, o := range objs {
		name, _ := o["Name"].str()
		if name == "" {
			name = "unnamed"
		}
		on, ok := o["Enabled"].bool()
		if !ok {
			return unknownBool(srcWinFirewall, "profile "+name+": Enabled unreadable")
		}
		if !on {
			f := knownBoolFrom(false, srcWinFirewall)
			f.Reason = "profile " + name + " is off"
			return f
		}
		if action, ok := o["DefaultInboundAction"].enum(firewallActionNames); ok && action == firewallActionAllow {
			f := knownBoolFrom(false, srcWinFirewall)
			f.Reason = "profile " + name + " allows inbound by default"
			return f
		}
	}
	return knownBoolFrom(true, srcWinFirewall)
}

// parseWinOS reads Win32_OperatingSystem: Caption (localised, e.g.
// "Microsoft Windows 11 Professionnel"), Version (10.0.22631) and
// BuildNumber (22631).
func parseWinOS(out string) (name, version, build api.StringFact) {
	name = unknownString(srcWinOS, "")
	version, build = name, name
	objs, err := decodeObjects(out)
	if err == nil && len(objs) != 1 {
		err = fmt.Errorf("want one object, got %d", len(objs))
	}
	if err != nil {
		name.Reason, version.Reason, build.Reason = err.Error(), err.Error(), err.Error()
		return name, version, build
	}
	read := func(key string) api.StringFact {
		if v, ok := objs[0][key].str(); ok && strings.TrimSpace(v) != "" {
			return knownStringFrom(strings.TrimSpace(v), srcWinOS)
		}
		return unknownString(srcWinOS, "no "+key)
	}
	return read("Caption"), read("Version"), read("BuildNumber")
}

// parseWinDomain reads Win32_ComputerSystem: PartOfDomain and Domain. A
// machine in a workgroup is known not joined and its Domain (the workgroup
// name) stays unknown.
func parseWinDomain(out string) (joined api.BoolFact, domain api.StringFact) {
	objs, err := decodeObjects(out)
	if err == nil && len(objs) != 1 {
		err = fmt.Errorf("want one object, got %d", len(objs))
	}
	if err != nil {
		return unknownBool(srcWinComputer, err.Error()), unknownString(srcWinComputer, err.Error())
	}
	part, ok := objs[0]["PartOfDomain"].bool()
	if !ok {
		return unknownBool(srcWinComputer, "no PartOfDomain"), unknownString(srcWinComputer, "no PartOfDomain")
	}
	if !part {
		return knownBoolFrom(false, srcWinComputer), unknownString(srcWinComputer, "not joined to a domain")
	}
	d, _ := objs[0]["Domain"].str()
	if d == "" {
		return knownBoolFrom(true, srcWinComputer), unknownString(srcWinComputer, "no Domain")
	}
	return knownBoolFrom(true, srcWinComputer), knownStringFrom(d, srcWinComputer)
}

// parseWinScreenLock reads the registry values the collector's script
// gathers into one JSON object. The machine inactivity limit (a policy
// that locks every session) wins; otherwise a secure screen saver with a
// timeout locks the screen. The agent runs as LocalSystem, whose HKCU is
// not the signed-in user's: without the machine policy the answer is
// unknown unless the user-level values are present.
func parseWinScreenLock(out string) api.BoolFact {
	objs, err := decodeObjects(out)
	if err == nil && len(objs) != 1 {
		err = fmt.Errorf("want one object, got %d", len(objs))
	}
	if err != nil {
		return unknownBool(srcWinScreen, err.Error())
	}
	o := objs[0]
	if secs, ok := o["InactivityTimeoutSecs"].int(); ok && secs > 0 {
		f := knownBoolFrom(true, srcWinScreen)
		f.Reason = fmt.Sprintf("machine inactivity limit %d s", secs)
		return f
	}
	if !o["ScreenSaveActive"].present() {
		return unknownBool(srcWinScreen, "no machine inactivity limit, and the user's screen saver settings are not readable")
	}
	active, okA := o["ScreenSaveActive"].bool()
	secure, okS := o["ScreenSaverIsSecure"].bool()
	timeout, okT := o["ScreenSaveTimeOut"].int()
	switch {
	case !okA:
		return unknownBool(srcWinScreen, "ScreenSaveActive unreadable")
	case !active:
		f := knownBoolFrom(false, srcWinScreen)
		f.Reason = "screen saver off"
		return f
	case !okS || !secure:
		f := knownBoolFrom(false, srcWinScreen)
		f.Reason = "screen saver does not ask for a password"
		return f
	case !okT || timeout <= 0:
		f := knownBoolFrom(false, srcWinScreen)
		f.Reason = "screen saver has no timeout"
		return f
	}
	f := knownBoolFrom(true, srcWinScreen)
	f.Reason = fmt.Sprintf("secure screen saver after %d s", timeout)
	return f
}

// parseWinScript reads the output of collect_windows.go's script: a JSON
// object of sections, each a cmdlet's ConvertTo-Json text or "error: " and
// the cmdlet's message.
// now dates the reading (an update pause ends at a given time).
func parseWinScript(out commandOutput, now time.Time) slowFacts {
	var f slowFacts
	var sections map[string]string
	if err := json.Unmarshal(bytes.TrimPrefix(bytes.TrimSpace([]byte(out.stdout)), []byte("\xef\xbb\xbf")), &sections); err != nil {
		reason := "powershell: " + out.failure()
		if out.err == nil {
			reason = "powershell gave no JSON: " + unrecognised(out.stdout)
		}
		return unknownWindowsFacts(reason)
	}
	section := func(name string) (string, string) {
		s := sections[name]
		if msg, ok := strings.CutPrefix(s, "error: "); ok {
			return "", msg
		}
		return s, ""
	}
	boolFact := func(name, source string, parse func(string) api.BoolFact) api.BoolFact {
		s, failed := section(name)
		if failed != "" {
			return unknownBool(source, failed)
		}
		return parse(s)
	}
	f.DiskEncryption = boolFact("BitLocker", srcBitLocker, parseBitLocker)
	f.Antivirus = boolFact("Defender", srcDefender, parseDefender)
	f.Firewall = boolFact("Firewall", srcWinFirewall, parseWinFirewall)
	f.ScreenLock = boolFact("ScreenLock", srcWinScreen, parseWinScreenLock)
	f.AutoUpdates = boolFact("Update", srcWinUpdate, func(s string) api.BoolFact { return parseWinUpdate(s, now) })
	if s, failed := section("MachineGuid"); failed != "" {
		f.MachineID = unknownString(srcWinMachineGuid, failed)
	} else {
		f.MachineID = parseWinMachineGuid(s)
	}
	if s, failed := section("OS"); failed != "" {
		f.OSName, f.OSVersion, f.OSBuild = unknownString(srcWinOS, failed), unknownString(srcWinOS, failed), unknownString(srcWinOS, failed)
	} else {
		f.OSName, f.OSVersion, f.OSBuild = parseWinOS(s)
	}
	if s, failed := section("Computer"); failed != "" {
		f.DomainJoined, f.Domain = unknownBool(srcWinComputer, failed), unknownString(srcWinComputer, failed)
	} else {
		f.DomainJoined, f.Domain = parseWinDomain(s)
	}
	return f
}

// unknownWindowsFacts is every Windows fact unknown for one reason (the
// script did not run).
func unknownWindowsFacts(reason string) slowFacts {
	return slowFacts{
		OSName:         unknownString(srcWinOS, reason),
		OSVersion:      unknownString(srcWinOS, reason),
		OSBuild:        unknownString(srcWinOS, reason),
		Domain:         unknownString(srcWinComputer, reason),
		DiskEncryption: unknownBool(srcBitLocker, reason),
		Firewall:       unknownBool(srcWinFirewall, reason),
		ScreenLock:     unknownBool(srcWinScreen, reason),
		Antivirus:      unknownBool(srcDefender, reason),
		DomainJoined:   unknownBool(srcWinComputer, reason),
		AutoUpdates:    unknownBool(srcWinUpdate, reason),
		MachineID:      unknownString(srcWinMachineGuid, reason),
	}
}
