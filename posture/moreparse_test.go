package posture

import (
	"testing"
	"time"
)

func TestParseIoregUUID(t *testing.T) {
	tests := []struct{ file, want string }{
		{file: "darwin/ioreg-platform.txt", want: "5E3F2A1B-6C7D-4E8F-9A0B-1C2D3E4F5A6B"},
		{file: "darwin/empty.txt", want: ""},
		{file: "darwin/sw_vers-14.txt", want: ""},
	}
	for _, tt := range tests {
		checkString(t, "parseIoregUUID", tt.file, parseIoregUUID(readTestdata(t, tt.file)), tt.want)
	}
}

func TestParseMacSoftwareUpdate(t *testing.T) {
	tests := []struct {
		file string
		want boolWant
	}{
		{file: "darwin/softwareupdate-auto.txt", want: boolWant{known: true, value: true, reason: true}},
		{file: "darwin/softwareupdate-manual.txt", want: boolWant{known: true, reason: true}},
		{file: "darwin/softwareupdate-unset.txt", want: boolWant{}},
		{file: "darwin/softwareupdate-missing.txt", want: boolWant{}},
		{file: "darwin/empty.txt", want: boolWant{}},
	}
	for _, tt := range tests {
		checkBool(t, "parseMacSoftwareUpdate", tt.file, parseMacSoftwareUpdate(readTestdata(t, tt.file)), tt.want)
	}
}

func TestParseWinMachineGuid(t *testing.T) {
	tests := []struct{ in, want string }{
		{in: readTestdata(t, "windows/machineguid.json"), want: "5d3b9f8e-1c2a-4b7d-9e0f-123456789abc"},
		{in: `"not-a-guid"`, want: ""},
		{in: `{"MachineGuid":"5d3b9f8e-1c2a-4b7d-9e0f-123456789abc"}`, want: ""},
		{in: "", want: ""},
	}
	for _, tt := range tests {
		checkString(t, "parseWinMachineGuid", tt.in, parseWinMachineGuid(tt.in), tt.want)
	}
}

func TestParseWinUpdate(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		file string
		now  time.Time
		want boolWant
	}{
		{file: "windows/update-default.json", now: now, want: boolWant{known: true, value: true, reason: true}},
		{file: "windows/update-scheduled.json", now: now, want: boolWant{known: true, value: true, reason: true}},
		{file: "windows/update-service-disabled.json", now: now, want: boolWant{known: true, reason: true}},
		{file: "windows/update-enum-names.json", now: now, want: boolWant{known: true, reason: true}},
		{file: "windows/update-policy-off.json", now: now, want: boolWant{known: true, reason: true}},
		{file: "windows/update-notify.json", now: now, want: boolWant{known: true, reason: true}},
		{file: "windows/update-paused.json", now: now, want: boolWant{known: true, reason: true}},
		{file: "windows/update-paused.json", now: now.AddDate(0, 1, 0), want: boolWant{known: true, value: true, reason: true}},
		{file: "windows/update-local-admin.json", now: now, want: boolWant{}},
		{file: "windows/empty.json", now: now, want: boolWant{}},
	}
	for _, tt := range tests {
		checkBool(t, "parseWinUpdate", tt.file+" at "+tt.now.Format(time.DateOnly), parseWinUpdate(readTestdata(t, tt.file), tt.now), tt.want)
	}
}

// TestParseWinScriptUpdates reads the Update and MachineGuid sections of a
// whole script output; an older output without them leaves both unknown.
func TestParseWinScriptUpdates(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	f := parseWinScript(commandOutput{stdout: readTestdata(t, "windows/script-system-updates.json")}, now)
	checkBool(t, "parseWinScript auto updates", "paused until 2026-12-20", f.AutoUpdates, boolWant{known: true, reason: true})
	checkString(t, "parseWinScript machine id", "script-system-updates.json", f.MachineID, "5d3b9f8e-1c2a-4b7d-9e0f-123456789abc")
	f = parseWinScript(commandOutput{stdout: readTestdata(t, "windows/script-system-updates.json")}, now.AddDate(0, 1, 0))
	checkBool(t, "parseWinScript auto updates", "pause over", f.AutoUpdates, boolWant{known: true, value: true, reason: true})
	f = parseWinScript(commandOutput{stdout: readTestdata(t, "windows/script-system.json")}, now)
	checkBool(t, "parseWinScript auto updates", "no Update section", f.AutoUpdates, boolWant{})
	checkString(t, "parseWinScript machine id", "no MachineGuid section", f.MachineID, "")
}
