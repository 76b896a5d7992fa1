package posture

import (
	"os"
	"strings"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// machineIDPath is systemd's machine-id(5), also written by dbus and
// installers on systems without systemd.
const machineIDPath = "/etc/machine-id"

// machineID reads machine-id(5): 32 lower-case hex digits and a newline.
// "uninitialized" (first boot not finished) and anything else that is not
// an ID is unknown.
func machineID(path string) api.StringFact {
	b, err := os.ReadFile(path)
	if err != nil {
		return unknownString(path, err.Error())
	}
	return parseMachineID(string(b), path)
}

func parseMachineID(s, source string) api.StringFact {
	id := strings.TrimSpace(s)
	switch {
	case id == "":
		return unknownString(source, "empty: the machine ID is made at first boot")
	case id == "uninitialized":
		return unknownString(source, "uninitialized: first boot has not finished")
	case len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "":
		return unknownString(source, unrecognised(id)+" (want 32 lower-case hex digits)")
	}
	return knownStringFrom(id, source)
}
