package posture

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// secureBootVar is the UEFI global variable that says whether the firmware
// booted in secure boot mode (UEFI spec, "Globally Defined Variables").
const secureBootVar = "SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"

// secureBoot reads the SecureBoot EFI variable under firmware
// (/sys/firmware): efivarfs gives 4 attribute bytes, then one data byte
// that is 1 when secure boot is on.
//
//   - no efi directory beside the other firmware entries: the kernel was
//     not booted by UEFI (legacy BIOS, or a VM that loads the kernel
//     directly), so there is no secure boot: known false;
//   - an empty or missing firmware directory (a container masks it): unknown;
//   - efivarfs mounted but no SecureBoot variable: firmware without secure
//     boot support: known false;
//   - efivarfs not mounted, unreadable or odd content: unknown.
func secureBoot(firmware string) api.BoolFact {
	efi := filepath.Join(firmware, "efi")
	varPath := filepath.Join(efi, "efivars", secureBootVar)
	if _, err := os.Stat(efi); errors.Is(err, fs.ErrNotExist) {
		ents, err := os.ReadDir(firmware)
		if err != nil || len(ents) == 0 {
			return unknownBool(firmware, firmware+" is missing or empty (a container hides the firmware?)")
		}
		return api.BoolFact{Known: true, Source: efi, Reason: "legacy BIOS boot: the kernel was not started by UEFI firmware"}
	}
	b, err := os.ReadFile(varPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if ents, _ := os.ReadDir(filepath.Dir(varPath)); len(ents) == 0 {
			return unknownBool(varPath, "efivarfs is not mounted at "+filepath.Dir(varPath))
		}
		return api.BoolFact{Known: true, Source: varPath, Reason: "UEFI firmware without a SecureBoot variable (no secure boot support)"}
	case err != nil:
		return unknownBool(varPath, err.Error())
	}
	return parseSecureBootVar(b, varPath)
}

// parseSecureBootVar reads the variable's bytes as efivarfs gives them.
func parseSecureBootVar(b []byte, source string) api.BoolFact {
	if len(b) != 5 {
		return unknownBool(source, "want 4 attribute bytes and 1 value byte, got "+strconv.Itoa(len(b))+" bytes")
	}
	switch b[4] {
	case 0:
		return knownBoolFrom(false, source)
	case 1:
		return knownBoolFrom(true, source)
	}
	return unknownBool(source, "unexpected value byte "+strconv.Itoa(int(b[4])))
}
