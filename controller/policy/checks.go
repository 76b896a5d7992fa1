package policy

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// check is one typed posture check of a profile.
type check struct {
	name string
	run  func(p *api.PostureReport) api.CheckResult
}

// checksOf expands a profile into its checks, in a stable order.
func checksOf(prof api.PostureProfile) []check {
	var cs []check
	if prof.OSFamily != "" {
		want := prof.OSFamily
		cs = append(cs, check{"os_family", func(p *api.PostureReport) api.CheckResult {
			return stringCheck("os_family", p, func(p *api.PostureReport) api.StringFact { return p.OSFamily },
				func(v string) bool { return v == want },
				func(v string) string { return fmt.Sprintf("this device runs %s; this app needs %s", v, want) },
				api.Reason{Code: api.CodePostureOSFamily, Remediation: "Use a " + want + " device for this app"}, "operating system")
		}})
	}
	if prof.MinKernel != "" {
		cs = append(cs, minVersion("kernel", api.CodePostureMinKernel, prof.MinKernel, func(p *api.PostureReport) api.StringFact { return p.Kernel }))
	}
	if prof.MinOSVersion != "" {
		cs = append(cs, minVersion("os_version", api.CodePostureMinOSVersion, prof.MinOSVersion, func(p *api.PostureReport) api.StringFact { return p.OSVersion }))
	}
	if len(prof.MinOSVersions) > 0 {
		cs = append(cs, minOSVersions(prof.MinOSVersions))
	}
	if prof.DiskEncryption {
		cs = append(cs, osBoolCheck("disk_encryption", api.CodePostureDiskEncryption, "disk encryption", remedyDiskEncryption,
			func(p *api.PostureReport) api.BoolFact { return p.DiskEncryption }))
	}
	if prof.Firewall {
		cs = append(cs, osBoolCheck("firewall", api.CodePostureFirewall, "the firewall", remedyFirewall,
			func(p *api.PostureReport) api.BoolFact { return p.Firewall }))
	}
	for _, proc := range prof.RequiredProcesses {
		remedy := fmt.Sprintf("Start %s (your IT department's required software)", proc)
		if path, _, _ := api.ParseSoftwareSpec(proc); path != "" {
			remedy = fmt.Sprintf("Run the root-owned, unmodified %s as installed by your IT department", path)
		}
		cs = append(cs, boolCheck("process:"+proc, api.CodePostureProcessPrefix+proc, fmt.Sprintf("required process %q", proc),
			remedy,
			func(p *api.PostureReport) api.BoolFact { return p.Processes[proc] }))
	}
	return append(cs, newChecksOf(prof)...)
}

// boolCheck passes only on a known true fact.
func boolCheck(name, code, what, remedy string, fact func(*api.PostureReport) api.BoolFact) check {
	// The messages are made once: a decision runs every check.
	unknown, off, on := "the state of "+what+" is unknown", what+" is off", what+" is on"
	if strings.HasPrefix(name, "process:") {
		off, on = what+" is not running", what+" is running"
	}
	return check{name, func(p *api.PostureReport) api.CheckResult {
		f := api.BoolFact{}
		if p != nil {
			f = fact(p)
		}
		return specResult(api.CheckResult{Check: name, Reason: api.Reason{Code: code, Remediation: remedy}}, f, true, unknown, off, on)
	}}
}

// maxNoteLen bounds the device's reason quoted in a decision.
const maxNoteLen = 200

// deviceNote is the agent's reason for a fact (BoolFact.Reason), cut
// short and without control characters: it is the device's text, shown to
// the user and written to the audit log, never decided on.
func deviceNote(reason string) string {
	note := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, reason)
	if len(note) > maxNoteLen {
		note = strings.ToValidUTF8(note[:maxNoteLen], "") + "…"
	}
	return note
}

func minVersion(name, code, min string, fact func(*api.PostureReport) api.StringFact) check {
	what := strings.ReplaceAll(name, "_", " ")
	return check{"min_" + name, func(p *api.PostureReport) api.CheckResult {
		return stringCheck("min_"+name, p, fact,
			func(v string) bool { return CompareVersions(v, min) >= 0 },
			func(v string) string { return fmt.Sprintf("%s %s is older than %s", what, v, min) },
			api.Reason{Code: code, Remediation: fmt.Sprintf("Update this device to %s %s or newer", what, min)}, what)
	}}
}

// stringCheck runs ok on a known string fact; failure says what is wrong
// with a value that fails.
func stringCheck(name string, p *api.PostureReport, fact func(*api.PostureReport) api.StringFact,
	ok func(string) bool, failure func(string) string, failing api.Reason, what string) api.CheckResult {
	r := api.CheckResult{Check: name, Reason: failing}
	f := api.StringFact{}
	if p != nil {
		f = fact(p)
	}
	switch {
	case !f.Known:
		r.Status, r.Reason.Message = api.CheckUnknown, fmt.Sprintf("the %s is unknown", what)
	case !ok(f.Value):
		r.Status, r.Reason.Message = api.CheckFail, failure(f.Value)
	default:
		r.Status, r.Reason.Message = api.CheckPass, what+" "+f.Value+" is fine"
	}
	return r
}

// CompareVersions compares dotted versions numerically by their leading
// numeric parts ("6.1.0-18-amd64" is 6.1.0): -1, 0 or 1.
func CompareVersions(a, b string) int {
	pa, pb := versionParts(a), versionParts(b)
	for i := 0; i < max(len(pa), len(pb)); i++ {
		var x, y int
		if i < len(pa) {
			x = pa[i]
		}
		if i < len(pb) {
			y = pb[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

func versionParts(v string) []int {
	var out []int
	for _, part := range strings.Split(v, ".") {
		end := 0
		for end < len(part) && part[end] >= '0' && part[end] <= '9' {
			end++
		}
		n, err := strconv.Atoi(part[:end])
		if err != nil {
			break
		}
		out = append(out, n)
		if end < len(part) {
			break
		}
	}
	return out
}
