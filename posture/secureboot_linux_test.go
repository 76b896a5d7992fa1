package posture

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/api"
)

func TestParseSecureBootVar(t *testing.T) {
	tests := []struct {
		file    string
		want    api.BoolFact
		wantWhy string
	}{
		{file: "secureboot-on.bin", want: api.KnownBool(true)},
		{file: "secureboot-off.bin", want: api.KnownBool(false)},
		{file: "secureboot-odd.bin", wantWhy: "unexpected value byte 7"},
		{file: "secureboot-short.bin", wantWhy: "got 2 bytes"},
	}
	for _, tt := range tests {
		got := parseSecureBootVar([]byte(linuxTestdata(t, "efivars/"+tt.file)), "src")
		if got.Known != tt.want.Known || got.Value != tt.want.Value || !strings.Contains(got.Reason, tt.wantWhy) || got.Source != "src" {
			t.Errorf("parseSecureBootVar(%s) = %+v, want %+v with %q", tt.file, got, tt.want, tt.wantWhy)
		}
	}
}

// TestSecureBootLayouts builds /sys/firmware trees: UEFI with the variable,
// UEFI without it, efivarfs not mounted, legacy BIOS, and a container
// that hides the firmware.
func TestSecureBootLayouts(t *testing.T) {
	on := linuxTestdata(t, "efivars/secureboot-on.bin")
	tests := []struct {
		name    string
		files   map[string]string // relative path → content; "/" suffix: a directory
		want    api.BoolFact
		wantWhy string
	}{
		{name: "secure boot on", files: map[string]string{"efi/efivars/" + secureBootVar: on, "acpi/": ""}, want: api.KnownBool(true)},
		{name: "legacy BIOS", files: map[string]string{"acpi/": "", "memmap/": ""}, want: api.KnownBool(false), wantWhy: "legacy BIOS"},
		{name: "UEFI without the variable", files: map[string]string{"efi/efivars/Boot0000-8be4df61-93ca-11d2-aa0d-00e098032b8c": "x"}, want: api.KnownBool(false), wantWhy: "no secure boot support"},
		{name: "efivarfs not mounted", files: map[string]string{"efi/efivars/": ""}, wantWhy: "not mounted"},
		{name: "firmware hidden", files: map[string]string{}, wantWhy: "container"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "firmware")
			if err := os.Mkdir(root, 0o755); err != nil {
				t.Fatal(err)
			}
			for name, content := range tt.files {
				p := filepath.Join(root, name)
				dir := filepath.Dir(p)
				if strings.HasSuffix(name, "/") {
					dir = p
				}
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if dir == p {
					continue
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got := secureBoot(root)
			if got.Known != tt.want.Known || got.Value != tt.want.Value || !strings.Contains(got.Reason, tt.wantWhy) || got.Source == "" {
				t.Errorf("secureBoot(%v) = %+v, want %+v with %q", tt.files, got, tt.want, tt.wantWhy)
			}
		})
	}
}

func TestParseMachineID(t *testing.T) {
	tests := []struct {
		in      string
		want    api.StringFact
		wantWhy string
	}{
		{in: "3d1219c7c4c5404aaa1f6d2a48adfda4\n", want: api.KnownString("3d1219c7c4c5404aaa1f6d2a48adfda4")},
		{in: "uninitialized\n", wantWhy: "first boot"},
		{in: "", wantWhy: "empty"},
		{in: "3D1219C7C4C5404AAA1F6D2A48ADFDA4\n", wantWhy: "32 lower-case hex"},
		{in: "3d1219c7c4c5404aaa1f6d2a48adfd\n", wantWhy: "32 lower-case hex"},
	}
	for _, tt := range tests {
		got := parseMachineID(tt.in, machineIDPath)
		if got.Known != tt.want.Known || got.Value != tt.want.Value || !strings.Contains(got.Reason, tt.wantWhy) || got.Source != machineIDPath {
			t.Errorf("parseMachineID(%q) = %+v, want %+v with %q", tt.in, got, tt.want, tt.wantWhy)
		}
	}
}
