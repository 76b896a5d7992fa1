package posture

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// Table tests for macparse.go and winparse.go over the recorded outputs in
// testdata/. They run on every OS.

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// boolWant is what a parsed BoolFact must be: unknown facts must carry a
// reason, and every fact its source.
type boolWant struct {
	known, value bool
	reason       bool // a Reason must be set even though the fact is known
}

func checkBool(t *testing.T, fn string, in string, got api.BoolFact, want boolWant) {
	t.Helper()
	if got.Known != want.known || got.Value != want.value {
		t.Errorf("%s(%q) = %+v, want known=%v value=%v", fn, in, got, want.known, want.value)
	}
	if got.Source == "" {
		t.Errorf("%s(%q) = %+v, want a Source", fn, in, got)
	}
	if (!got.Known || want.reason) && got.Reason == "" {
		t.Errorf("%s(%q) = %+v, want a Reason", fn, in, got)
	}
}

func TestParseBoolFacts(t *testing.T) {
	on := boolWant{known: true, value: true}
	off := boolWant{known: true}
	offWhy := boolWant{known: true, reason: true}
	onWhy := boolWant{known: true, value: true, reason: true}
	unknown := boolWant{}
	tests := []struct {
		name  string
		parse func(string) api.BoolFact
		in    string
		want  boolWant
	}{
		{"parseFileVault", parseFileVault, "darwin/fdesetup-on.txt", on},
		{"parseFileVault", parseFileVault, "darwin/fdesetup-off.txt", off},
		{"parseFileVault", parseFileVault, "darwin/fdesetup-encrypting.txt", offWhy},
		{"parseFileVault", parseFileVault, "darwin/fdesetup-decrypting.txt", offWhy},
		{"parseFileVault", parseFileVault, "darwin/fdesetup-deferred.txt", off},
		{"parseFileVault", parseFileVault, "darwin/empty.txt", unknown},
		{"parseFileVault", parseFileVault, "darwin/spctl-odd.txt", unknown},

		{"parseAppFirewall", parseAppFirewall, "darwin/socketfilterfw-on.txt", on},
		{"parseAppFirewall", parseAppFirewall, "darwin/socketfilterfw-off.txt", off},
		{"parseAppFirewall", parseAppFirewall, "darwin/socketfilterfw-block-all.txt", onWhy},
		{"parseAppFirewall", parseAppFirewall, "darwin/socketfilterfw-no-state.txt", on},
		{"parseAppFirewall", parseAppFirewall, "darwin/empty.txt", unknown},

		{"parseSIP", parseSIP, "darwin/csrutil-enabled.txt", on},
		{"parseSIP", parseSIP, "darwin/csrutil-disabled.txt", off},
		{"parseSIP", parseSIP, "darwin/csrutil-custom.txt", offWhy},
		{"parseSIP", parseSIP, "darwin/csrutil-enabled-custom.txt", offWhy},
		{"parseSIP", parseSIP, "darwin/csrutil-recovery.txt", unknown},
		{"parseSIP", parseSIP, "darwin/empty.txt", unknown},

		{"parseGatekeeper", parseGatekeeper, "darwin/spctl-enabled.txt", on},
		{"parseGatekeeper", parseGatekeeper, "darwin/spctl-disabled.txt", off},
		{"parseGatekeeper", parseGatekeeper, "darwin/spctl-odd.txt", unknown},
		{"parseGatekeeper", parseGatekeeper, "darwin/empty.txt", unknown},

		{"parseSysadminctlScreenLock", parseSysadminctlScreenLock, "darwin/sysadminctl-immediate.txt", onWhy},
		{"parseSysadminctlScreenLock", parseSysadminctlScreenLock, "darwin/sysadminctl-300.txt", onWhy},
		{"parseSysadminctlScreenLock", parseSysadminctlScreenLock, "darwin/sysadminctl-off.txt", off},
		{"parseSysadminctlScreenLock", parseSysadminctlScreenLock, "darwin/sysadminctl-error.txt", unknown},
		{"parseSysadminctlScreenLock", parseSysadminctlScreenLock, "darwin/empty.txt", unknown},

		{"parseBitLocker", parseBitLocker, "windows/bitlocker-on.json", on},
		{"parseBitLocker", parseBitLocker, "windows/bitlocker-enum-names.json", on},
		{"parseBitLocker", parseBitLocker, "windows/bitlocker-off.json", offWhy},
		{"parseBitLocker", parseBitLocker, "windows/bitlocker-suspended.json", offWhy},
		{"parseBitLocker", parseBitLocker, "windows/bitlocker-encrypting.json", offWhy},
		{"parseBitLocker", parseBitLocker, "windows/bitlocker-not-admin.json", unknown},
		{"parseBitLocker", parseBitLocker, "windows/empty.json", unknown},
		{"parseBitLocker", parseBitLocker, "windows/firewall-all-on.json", unknown},

		{"parseDefender", parseDefender, "windows/defender-on.json", on},
		{"parseDefender", parseDefender, "windows/defender-rtp-off.json", offWhy},
		{"parseDefender", parseDefender, "windows/defender-disabled.json", offWhy},
		{"parseDefender", parseDefender, "windows/defender-passive-third-party.json", unknown},
		{"parseDefender", parseDefender, "windows/truncated.json", unknown},
		{"parseDefender", parseDefender, "windows/empty.json", unknown},

		{"parseWinFirewall", parseWinFirewall, "windows/firewall-all-on.json", on},
		{"parseWinFirewall", parseWinFirewall, "windows/firewall-booleans.json", on},
		{"parseWinFirewall", parseWinFirewall, "windows/firewall-public-off.json", offWhy},
		{"parseWinFirewall", parseWinFirewall, "windows/firewall-inbound-allow.json", offWhy},
		{"parseWinFirewall", parseWinFirewall, "windows/computer-domain.json", unknown},
		{"parseWinFirewall", parseWinFirewall, "windows/empty.json", unknown},

		{"parseWinScreenLock", parseWinScreenLock, "windows/screenlock-policy.json", onWhy},
		{"parseWinScreenLock", parseWinScreenLock, "windows/screenlock-user-secure.json", onWhy},
		{"parseWinScreenLock", parseWinScreenLock, "windows/screenlock-user-insecure.json", offWhy},
		{"parseWinScreenLock", parseWinScreenLock, "windows/screenlock-none.json", unknown},
		{"parseWinScreenLock", parseWinScreenLock, "windows/truncated.json", unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+tt.in, func(t *testing.T) {
			checkBool(t, tt.name, tt.in, tt.parse(readTestdata(t, tt.in)), tt.want)
		})
	}
}

// stringWant is a StringFact's value; "" means unknown with a reason.
func checkString(t *testing.T, fn, in string, got api.StringFact, want string) {
	t.Helper()
	if got.Known != (want != "") || got.Value != want {
		t.Errorf("%s(%q) = %+v, want %q", fn, in, got, want)
	}
	if got.Source == "" || (!got.Known && got.Reason == "") {
		t.Errorf("%s(%q) = %+v, want a Source and, when unknown, a Reason", fn, in, got)
	}
}

func TestParseSwVers(t *testing.T) {
	tests := []struct {
		in             string
		version, build string
	}{
		{"darwin/sw_vers-14.txt", "14.4.1", "23E224"},
		{"darwin/sw_vers-10.15.txt", "10.15.7", "19H2026"},
		{"darwin/sw_vers-rsr.txt", "13.6.4", "22G513"},
		{"darwin/empty.txt", "", ""},
		{"darwin/spctl-odd.txt", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			v, b := parseSwVers(readTestdata(t, tt.in))
			checkString(t, "parseSwVers version", tt.in, v, tt.version)
			checkString(t, "parseSwVers build", tt.in, b, tt.build)
		})
	}
}

func TestParseWinOS(t *testing.T) {
	tests := []struct {
		in                   string
		name, version, build string
	}{
		{"windows/os-win11.json", "Microsoft Windows 11 Pro", "10.0.22631", "22631"},
		{"windows/os-win10-fr.json", "Microsoft Windows 10 Professionnel", "10.0.19045", "19045"},
		{"windows/truncated.json", "", "", ""},
		{"windows/empty.json", "", "", ""},
		{"windows/firewall-all-on.json", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			n, v, b := parseWinOS(readTestdata(t, tt.in))
			checkString(t, "parseWinOS name", tt.in, n, tt.name)
			checkString(t, "parseWinOS version", tt.in, v, tt.version)
			checkString(t, "parseWinOS build", tt.in, b, tt.build)
		})
	}
}

func TestParseWinDomain(t *testing.T) {
	tests := []struct {
		in     string
		joined boolWant
		domain string
	}{
		{"windows/computer-domain.json", boolWant{known: true, value: true}, "corp.example.com"},
		{"windows/computer-workgroup.json", boolWant{known: true}, ""},
		{"windows/os-win11.json", boolWant{}, ""},
		{"windows/empty.json", boolWant{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			j, d := parseWinDomain(readTestdata(t, tt.in))
			checkBool(t, "parseWinDomain joined", tt.in, j, tt.joined)
			checkString(t, "parseWinDomain domain", tt.in, d, tt.domain)
		})
	}
}

func TestParseWinScript(t *testing.T) {
	on := boolWant{known: true, value: true}
	onWhy := boolWant{known: true, value: true, reason: true}
	offWhy := boolWant{known: true, reason: true}
	tests := []struct {
		name                           string
		in                             commandOutput
		disk, av, fw, lock, joined     boolWant
		osName, osVersion, osBuild, dm string
		reasonHas                      string // in DiskEncryption.Reason
	}{
		{
			name: "LocalSystem", in: commandOutput{stdout: readTestdata(t, "windows/script-system.json")},
			disk: on, av: on, fw: on, lock: onWhy, joined: on,
			osName: "Microsoft Windows 11 Enterprise", osVersion: "10.0.26100", osBuild: "26100", dm: "corp.example.com",
		},
		{
			name: "user, not admin", in: commandOutput{stdout: readTestdata(t, "windows/script-user.json")},
			fw: offWhy, lock: onWhy, joined: boolWant{known: true},
			reasonHas: "Access is denied",
		},
		{
			name: "powershell timed out", in: commandOutput{err: errors.New("timed out after 10s")},
			reasonHas: "timed out after 10s",
		},
		{
			name: "powershell printed text", in: commandOutput{stdout: "Cannot load profile\r\n"},
			reasonHas: "Cannot load profile",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := parseWinScript(tt.in, time.Now())
			checkBool(t, "parseWinScript disk", tt.name, f.DiskEncryption, tt.disk)
			checkBool(t, "parseWinScript antivirus", tt.name, f.Antivirus, tt.av)
			checkBool(t, "parseWinScript firewall", tt.name, f.Firewall, tt.fw)
			checkBool(t, "parseWinScript screen lock", tt.name, f.ScreenLock, tt.lock)
			checkBool(t, "parseWinScript domain joined", tt.name, f.DomainJoined, tt.joined)
			checkString(t, "parseWinScript os name", tt.name, f.OSName, tt.osName)
			checkString(t, "parseWinScript os version", tt.name, f.OSVersion, tt.osVersion)
			checkString(t, "parseWinScript os build", tt.name, f.OSBuild, tt.osBuild)
			checkString(t, "parseWinScript domain", tt.name, f.Domain, tt.dm)
			if !strings.Contains(f.DiskEncryption.Reason, tt.reasonHas) {
				t.Errorf("parseWinScript(%s) disk reason = %q, want it to contain %q", tt.name, f.DiskEncryption.Reason, tt.reasonHas)
			}
		})
	}
}

// TestMacSourcesAreCommands: collect_darwin.go runs each source's words as
// the argv, so each must start with an absolute path (no PATH lookup).
func TestMacSourcesAreCommands(t *testing.T) {
	for _, src := range []string{srcFileVault, srcAppFirewall, srcSIP, srcGatekeeper, srcSwVers, srcMacScreenLck} {
		argv := strings.Fields(src)
		if len(argv) == 0 || !filepath.IsAbs(argv[0]) {
			t.Errorf("source %q: want an absolute command path first", src)
		}
	}
}
