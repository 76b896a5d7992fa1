package autostart

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"golang.org/x/sys/windows/registry"
)

const runKey = `Software\Microsoft\Windows\CurrentVersion\Run`

// install sets the Run key's Gatehouse value (the current user's: no
// administrator needed) to the quoted command line.
func install(argv []string) (string, error) {
	k, _, err := registry.CreateKey(registry.CURRENT_USER, runKey, registry.SET_VALUE)
	if err != nil {
		return "", fmt.Errorf("opening HKCU\\%s: %w", runKey, err)
	}
	defer k.Close()
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = syscall.EscapeArg(a)
	}
	if err := k.SetStringValue(runValue, strings.Join(quoted, " ")); err != nil {
		return "", fmt.Errorf("setting HKCU\\%s\\%s: %w", runKey, runValue, err)
	}
	return `HKCU\` + runKey + `\` + runValue, nil
}

func remove() (string, error) {
	where := `HKCU\` + runKey + `\` + runValue
	k, err := registry.OpenKey(registry.CURRENT_USER, runKey, registry.SET_VALUE)
	if err != nil {
		return where, fmt.Errorf("opening HKCU\\%s: %w", runKey, err)
	}
	defer k.Close()
	if err := k.DeleteValue(runValue); err != nil && !errors.Is(err, registry.ErrNotExist) {
		return where, err
	}
	return where, nil
}
