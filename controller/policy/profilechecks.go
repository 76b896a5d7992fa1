package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// The typed checks of issue 8 (api.PostureProfile's newer fields). Each
// has a stable name (CheckResult.Check, what exceptions waive), a reason
// code "posture." + that name, and a remediation the user can act on,
// worded for the device's OS where the fix differs.

// Check names of the newer typed checks.
const (
	checkMinOSVersions   = "min_os_versions"
	checkScreenLock      = "screen_lock"
	checkSecureBoot      = "secure_boot"
	checkAutoUpdates     = "auto_updates"
	checkDaysSinceUpdate = "max_days_since_update"
	checkMinAgent        = "min_agent_version"
	checkForbiddenPrefix = "forbidden:"
	checkFilePrefix      = "file:"
	checkSIP             = "sip"
	checkGatekeeper      = "gatekeeper"
	checkAntivirus       = "antivirus"
	checkDomainJoined    = "domain_joined"
	// ConditionCheck is the name of a profile's CEL condition as a check.
	ConditionCheck = "condition"
)

// OS families as agents report them (PostureReport.OSFamily).
const (
	familyLinux   = "linux"
	familyDarwin  = "darwin"
	familyWindows = "windows"
)

// IsOSFamily reports whether key names an OS family (a MinOSVersions key
// that is not an os_name).
func IsOSFamily(key string) bool {
	return key == familyLinux || key == familyDarwin || key == familyWindows
}

// osText is a remediation per OS family; other is for a family not
// listed or not known.
type osText struct{ linux, darwin, windows, other string }

func (t osText) on(p *api.PostureReport) string {
	fam := ""
	if p != nil && p.OSFamily.Known {
		fam = p.OSFamily.Value
	}
	switch {
	case fam == familyLinux && t.linux != "":
		return t.linux
	case fam == familyDarwin && t.darwin != "":
		return t.darwin
	case fam == familyWindows && t.windows != "":
		return t.windows
	}
	return t.other
}

var (
	remedyDiskEncryption = osText{
		linux:   "Encrypt the system disk with LUKS (this needs a reinstall with encryption chosen; ask IT)",
		darwin:  "Turn on FileVault (System Settings > Privacy & Security > FileVault)",
		windows: "Turn on BitLocker for the system drive (Settings > Privacy & security > Device encryption, or Control Panel > BitLocker)",
		other:   "Turn on disk encryption for the system disk (LUKS, FileVault or BitLocker)",
	}
	remedyFirewall = osText{
		linux:   "Turn on an inbound-filtering firewall (sudo ufw enable, or sudo systemctl enable --now firewalld)",
		darwin:  "Turn on the firewall (System Settings > Network > Firewall)",
		windows: "Turn on Windows Defender Firewall (Windows Security > Firewall & network protection)",
		other:   "Turn on the firewall",
	}
	remedyScreenLock = osText{
		linux:   "Turn on the automatic screen lock in your desktop's settings (GNOME: Settings > Privacy > Screen Lock)",
		darwin:  "Require a password right after sleep or the screen saver (System Settings > Lock Screen)",
		windows: "Turn on the screen lock (Settings > Accounts > Sign-in options, and a screen saver with \"On resume, display logon screen\")",
		other:   "Turn on the automatic screen lock",
	}
	remedySecureBoot = osText{
		darwin: "Set Startup Security to Full Security (restart into Recovery > Utilities > Startup Security Utility)",
		other:  "Turn on Secure Boot in the computer's firmware (UEFI) settings; ask IT if you are unsure",
	}
	remedyAutoUpdates = osText{
		linux:   "Turn on automatic updates (Debian/Ubuntu: sudo apt install unattended-upgrades; Fedora/RHEL: sudo dnf install dnf-automatic && sudo systemctl enable --now dnf-automatic.timer)",
		darwin:  "Turn on Automatic Updates (System Settings > General > Software Update)",
		windows: "Turn on automatic updates (Settings > Windows Update > Advanced options)",
		other:   "Turn on automatic OS updates",
	}
	remedyUpdateNow = osText{
		linux:   "Install the OS updates now (sudo apt update && sudo apt upgrade, or sudo dnf upgrade)",
		darwin:  "Install the updates now (System Settings > General > Software Update)",
		windows: "Install the updates now (Settings > Windows Update)",
		other:   "Install the OS updates now",
	}
)

// newChecksOf is the checks of prof's newer typed fields, in a stable
// order.
func newChecksOf(prof api.PostureProfile) []check {
	var cs []check
	if prof.ScreenLock {
		cs = append(cs, osBoolCheck(checkScreenLock, api.CodePostureScreenLock, "the screen lock", remedyScreenLock,
			func(p *api.PostureReport) api.BoolFact { return p.ScreenLock }))
	}
	if prof.SecureBoot {
		cs = append(cs, osBoolCheck(checkSecureBoot, api.CodePostureSecureBoot, "secure boot", remedySecureBoot,
			func(p *api.PostureReport) api.BoolFact { return p.SecureBoot }))
	}
	if prof.AutoUpdates {
		cs = append(cs, osBoolCheck(checkAutoUpdates, api.CodePostureAutoUpdates, "automatic updates", remedyAutoUpdates,
			func(p *api.PostureReport) api.BoolFact { return p.AutoUpdates }))
	}
	if prof.MaxDaysSinceUpdate > 0 {
		cs = append(cs, daysSinceUpdate(prof.MaxDaysSinceUpdate))
	}
	if prof.MinAgentVersion != "" {
		cs = append(cs, minAgentVersion(prof.MinAgentVersion))
	}
	for _, spec := range prof.ForbiddenSoftware {
		cs = append(cs, forbiddenSoftware(spec))
	}
	for _, spec := range prof.RequiredFiles {
		cs = append(cs, requiredFile(spec))
	}
	if prof.SIP {
		cs = append(cs, platformCheck(familyDarwin, boolCheck(checkSIP, api.CodePostureSIP, "System Integrity Protection",
			"Turn System Integrity Protection back on: restart into Recovery, open Terminal, run `csrutil enable`, and restart",
			func(p *api.PostureReport) api.BoolFact { return p.SIP })))
	}
	if prof.Gatekeeper {
		cs = append(cs, platformCheck(familyDarwin, boolCheck(checkGatekeeper, api.CodePostureGatekeeper, "Gatekeeper",
			"Turn Gatekeeper back on: run `sudo spctl --master-enable`, then allow apps from the App Store and identified developers (System Settings > Privacy & Security)",
			func(p *api.PostureReport) api.BoolFact { return p.Gatekeeper })))
	}
	if prof.Antivirus {
		cs = append(cs, platformCheck(familyWindows, boolCheck(checkAntivirus, api.CodePostureAntivirus, "Microsoft Defender real-time protection",
			"Turn on Microsoft Defender real-time protection (Windows Security > Virus & threat protection > Manage settings)",
			func(p *api.PostureReport) api.BoolFact { return p.Antivirus })))
	}
	if prof.DomainJoined {
		cs = append(cs, platformCheck(familyWindows, check{checkDomainJoined, func(p *api.PostureReport) api.CheckResult {
			r := boolCheck(checkDomainJoined, api.CodePostureDomainJoined, "domain membership",
				"Join this computer to your organization's domain (ask IT; Settings > Accounts > Access work or school)",
				func(p *api.PostureReport) api.BoolFact { return p.DomainJoined }).run(p)
			switch r.Status {
			case api.CheckPass:
				r.Reason.Message = "this computer is joined to a domain"
				if p.Domain.Known && p.Domain.Value != "" {
					r.Reason.Message = "this computer is joined to domain " + deviceNote(p.Domain.Value)
				}
			case api.CheckFail:
				r.Reason.Message = "this computer is not joined to a domain"
			}
			return r
		}}))
	}
	return cs
}

// osBoolCheck is boolCheck with the remediation for the device's OS.
func osBoolCheck(name, code, what string, remedy osText, fact func(*api.PostureReport) api.BoolFact) check {
	byOS := osChecks{
		linux:   boolCheck(name, code, what, remedy.on(&api.PostureReport{OSFamily: api.KnownString(familyLinux)}), fact),
		darwin:  boolCheck(name, code, what, remedy.on(&api.PostureReport{OSFamily: api.KnownString(familyDarwin)}), fact),
		windows: boolCheck(name, code, what, remedy.on(&api.PostureReport{OSFamily: api.KnownString(familyWindows)}), fact),
		other:   boolCheck(name, code, what, remedy.other, fact),
	}
	return check{name, func(p *api.PostureReport) api.CheckResult { return byOS.on(p).run(p) }}
}

// osChecks is one check per OS family, made once.
type osChecks struct{ linux, darwin, windows, other check }

func (c osChecks) on(p *api.PostureReport) check {
	if p != nil && p.OSFamily.Known {
		switch p.OSFamily.Value {
		case familyLinux:
			return c.linux
		case familyDarwin:
			return c.darwin
		case familyWindows:
			return c.windows
		}
	}
	return c.other
}

// platformCheck runs c on devices of family only; on a device of another
// known family it passes as not applicable (SIP means nothing on Linux),
// and on a device whose family is unknown it is unknown.
func platformCheck(family string, c check) check {
	unknown := c.run(nil) // the failing reason, for its code and remediation
	unknown.Reason.Message = "the operating system is unknown, so " + c.name + " cannot be checked"
	return check{c.name, func(p *api.PostureReport) api.CheckResult {
		switch {
		case p == nil || !p.OSFamily.Known:
			return unknown
		case p.OSFamily.Value != family:
			r := unknown
			r.Status, r.Reason.Message = api.CheckPass, c.name+" does not apply to "+deviceNote(p.OSFamily.Value)+" devices"
			return r
		}
		return c.run(p)
	}}
}

// minOSVersions holds the device to the minimum of its os_name, else of
// its os_family; a platform with no key passes. What is not known fails
// closed: an unknown name while some key names an OS, an unknown family.
func minOSVersions(mins map[string]string) check {
	hasName := false
	for k := range mins {
		if !IsOSFamily(k) {
			hasName = true
		}
	}
	return check{checkMinOSVersions, func(p *api.PostureReport) api.CheckResult {
		r := api.CheckResult{Check: checkMinOSVersions, Status: api.CheckUnknown,
			Reason: api.Reason{Code: api.CodePostureMinOSVersions, Remediation: "Update the operating system to the newest version"}}
		if p == nil {
			p = &api.PostureReport{}
		}
		key := ""
		switch {
		case p.OSName.Known && mins[p.OSName.Value] != "":
			key = p.OSName.Value
		case !p.OSName.Known && hasName:
			r.Reason.Message = "the OS name is unknown, so its minimum version cannot be checked"
			return r
		case !p.OSFamily.Known:
			r.Reason.Message = "the operating system is unknown, so its minimum version cannot be checked"
			return r
		case mins[p.OSFamily.Value] != "":
			key = p.OSFamily.Value
		default:
			platform := p.OSFamily.Value
			if p.OSName.Known {
				platform = p.OSName.Value
			}
			r.Status, r.Reason.Message = api.CheckPass, fmt.Sprintf("no minimum version is set for %s", deviceNote(platform))
			return r
		}
		min := mins[key]
		r.Reason.Remediation = osText{
			linux:   fmt.Sprintf("Upgrade %s to version %s or newer (your distribution's release upgrade)", key, min),
			darwin:  fmt.Sprintf("Update macOS to %s or newer (System Settings > General > Software Update)", min),
			windows: fmt.Sprintf("Update Windows to %s or newer (Settings > Windows Update)", min),
			other:   fmt.Sprintf("Update %s to %s or newer", key, min),
		}.on(p)
		switch v := p.OSVersion; {
		case !v.Known:
			r.Reason.Message = "the OS version is unknown"
		case CompareVersions(v.Value, min) < 0:
			r.Status, r.Reason.Message = api.CheckFail, fmt.Sprintf("%s %s is older than %s", key, deviceNote(v.Value), min)
		default:
			r.Status, r.Reason.Message = api.CheckPass, key+" "+deviceNote(v.Value)+" is "+min+" or newer"
		}
		return r
	}}
}

// daysSinceUpdate passes when the OS packages changed at most max days
// ago; an unknown age fails.
func daysSinceUpdate(max int) check {
	return check{checkDaysSinceUpdate, func(p *api.PostureReport) api.CheckResult {
		r := api.CheckResult{Check: checkDaysSinceUpdate, Reason: api.Reason{Code: api.CodePostureDaysSinceUpdate, Remediation: remedyUpdateNow.on(p)}}
		f := api.IntFact{}
		if p != nil {
			f = p.DaysSinceUpdate
		}
		switch {
		case !f.Known:
			r.Status, r.Reason.Message = api.CheckUnknown, "when the OS was last updated is unknown"
		case f.Value > int64(max):
			r.Status, r.Reason.Message = api.CheckFail, fmt.Sprintf("the OS was last updated %d days ago; at most %d are allowed", f.Value, max)
		default:
			r.Status, r.Reason.Message = api.CheckPass, "the OS was updated "+strconv.FormatInt(f.Value, 10)+" days ago (at most "+strconv.Itoa(max)+" allowed)"
		}
		return r
	}}
}

// ParseAgentVersion reads a release version ("1.4.2", "v1.4.2"): its
// numbers, or false for a development build ("dev") or anything else.
func ParseAgentVersion(v string) (string, bool) {
	v = strings.TrimPrefix(v, "v")
	if v == "" || v[0] < '0' || v[0] > '9' || len(versionParts(v)) == 0 {
		return "", false
	}
	return v, true
}

// minAgentVersion passes an agent at min or newer; a development build
// or a version that does not parse fails, with the reason.
func minAgentVersion(min string) check {
	return check{checkMinAgent, func(p *api.PostureReport) api.CheckResult {
		r := api.CheckResult{Check: checkMinAgent, Status: api.CheckFail, Reason: api.Reason{Code: api.CodePostureMinAgentVersion,
			Remediation: fmt.Sprintf("Update the Gatehouse agent to %s or newer (your IT department's package)", min)}}
		if p == nil {
			r.Status, r.Reason.Message = api.CheckUnknown, "the agent's version is unknown"
			return r
		}
		got := deviceNote(p.AgentVersion)
		v, ok := ParseAgentVersion(p.AgentVersion)
		switch {
		case p.AgentVersion == "":
			r.Status, r.Reason.Message = api.CheckUnknown, "the agent did not say its version"
		case !ok:
			r.Reason.Message = fmt.Sprintf("agent version %q is a development build or not a release version; %s or newer is needed", got, min)
		case CompareVersions(v, strings.TrimPrefix(min, "v")) < 0:
			r.Reason.Message = fmt.Sprintf("agent %s is older than %s", got, min)
		default:
			r.Status, r.Reason.Message = api.CheckPass, "agent "+got+" is "+min+" or newer"
		}
		return r
	}}
}

// forbiddenSoftware passes only on a known "not running".
func forbiddenSoftware(spec string) check {
	name := checkForbiddenPrefix + spec
	what := spec
	if path, _, _ := api.ParseSoftwareSpec(spec); path != "" {
		what = path
	}
	r := api.CheckResult{Check: name, Reason: api.Reason{Code: api.CodePostureForbiddenPrefix + spec,
		Remediation: fmt.Sprintf("Quit %s and uninstall it: your IT department does not allow it on devices that reach this app", what)}}
	unknown, running, notRunning := fmt.Sprintf("whether forbidden software %q runs is unknown", spec),
		fmt.Sprintf("forbidden software %q is running", spec), fmt.Sprintf("forbidden software %q is not running", spec)
	return check{name, func(p *api.PostureReport) api.CheckResult {
		f := api.BoolFact{}
		if p != nil {
			f = p.Forbidden[spec]
		}
		return specResult(r, f, false, unknown, running, notRunning)
	}}
}

// requiredFile passes only on a known "present as asked".
func requiredFile(spec string) check {
	name := checkFilePrefix + spec
	path, sum, _ := strings.Cut(spec, ":")
	remedy := fmt.Sprintf("Install %s as provided by your IT department", path)
	if sum != "" {
		remedy = fmt.Sprintf("Install the version of %s your IT department provides (its SHA-256 must be %s)", path, sum)
	}
	missing := fmt.Sprintf("required file %s is missing", path)
	if sum != "" {
		missing += " or its contents differ"
	}
	r := api.CheckResult{Check: name, Reason: api.Reason{Code: api.CodePostureFilePrefix + spec, Remediation: remedy}}
	unknown, present := fmt.Sprintf("whether required file %s is present is unknown", path), fmt.Sprintf("required file %s is present", path)
	return check{name, func(p *api.PostureReport) api.CheckResult {
		f := api.BoolFact{}
		if p != nil {
			f = p.Files[spec]
		}
		return specResult(r, f, true, unknown, missing, present)
	}}
}

// specResult completes r from f, a fact of asked-for software or a file:
// it passes only when f is known and its value is pass.
func specResult(r api.CheckResult, f api.BoolFact, pass bool, unknown, failing, passing string) api.CheckResult {
	switch {
	case !f.Known:
		r.Status, r.Reason.Message = api.CheckUnknown, unknown
	case f.Value != pass:
		r.Status, r.Reason.Message = api.CheckFail, failing
	default:
		r.Status, r.Reason.Message = api.CheckPass, passing
	}
	if note := deviceNote(f.Reason); r.Status != api.CheckPass && note != "" {
		r.Reason.Message += " (the device says: " + note + ")"
	}
	return r
}

// addQuery adds what prof asks the agent about to q (without duplicates).
func addQuery(q *api.PostureQuery, prof api.PostureProfile) {
	for _, l := range []struct {
		dst *[]string
		src []string
	}{{&q.Processes, prof.RequiredProcesses}, {&q.Forbidden, prof.ForbiddenSoftware}, {&q.Files, prof.RequiredFiles}} {
		for _, s := range l.src {
			if !slices.Contains(*l.dst, s) {
				*l.dst = append(*l.dst, s)
			}
		}
	}
}
