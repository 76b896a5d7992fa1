package posture

import (
	"bufio"
	"context"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/shirou/gopsutil/v4/host"
)

const osFamily = "linux"

// Where the Linux collector reads its facts.
const (
	osReleasePath     = "/etc/os-release"
	osReleaseFallback = "/usr/lib/os-release"
	serialPath        = "/sys/class/dmi/id/product_serial"
	firmwareDir       = "/sys/firmware"
	mountinfoPath     = "/proc/self/mountinfo"
	sysfsRoot         = "/sys"
	devRoot           = "/dev"
)

func collectSlow(ctx context.Context) slowFacts {
	var f slowFacts
	f.OSName, f.OSVersion = osRelease(ctx)
	f.Serial = readSerial(serialPath)
	f.DiskEncryption = rootDiskEncryption(mountinfoPath, sysfsRoot, devRoot)
	fw := firewall(ctx, execTool)
	f.Firewall = fw.Fact
	f.Firewall.Reason = fw.Reason
	f.SecureBoot = secureBoot(firmwareDir)
	collectMoreSlow(ctx, &f)
	return f
}

// osRelease reads ID and VERSION_ID from os-release, asking gopsutil for
// whatever is missing (rolling distributions have no VERSION_ID).
func osRelease(ctx context.Context) (name, version api.StringFact) {
	for _, p := range []string{osReleasePath, osReleaseFallback} {
		file, err := os.Open(p)
		if err != nil {
			continue
		}
		kv := parseOSRelease(file)
		file.Close()
		if v := kv["ID"]; v != "" {
			name = api.KnownString(v)
		}
		if v := kv["VERSION_ID"]; v != "" {
			version = api.KnownString(v)
		}
		break
	}
	if name.Known && version.Known {
		return name, version
	}
	platform, _, pversion, err := host.PlatformInformationWithContext(ctx)
	if err != nil {
		return name, version
	}
	if !name.Known && platform != "" {
		name = api.KnownString(platform)
	}
	if !version.Known && pversion != "" {
		version = api.KnownString(pversion)
	}
	return name, version
}

// parseOSRelease parses os-release(5): KEY=value lines, values optionally
// quoted, # comments.
func parseOSRelease(r io.Reader) map[string]string {
	kv := make(map[string]string)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if len(val) >= 2 && (val[0] == '"' || val[0] == '\'') && val[len(val)-1] == val[0] {
			if val[0] == '"' {
				if uq, err := strconv.Unquote(val); err == nil {
					val = uq
				} else {
					val = val[1 : len(val)-1]
				}
			} else {
				val = val[1 : len(val)-1]
			}
		}
		kv[strings.TrimSpace(key)] = val
	}
	return kv
}

// placeholderSerials are what firmware vendors write when they have no
// serial; reporting them as a serial would be a made-up fact.
var placeholderSerials = map[string]bool{
	"":                       true,
	"0":                      true,
	"none":                   true,
	"not specified":          true,
	"not applicable":         true,
	"default string":         true,
	"system serial number":   true,
	"to be filled by o.e.m.": true,
	"0123456789":             true,
}

// readSerial reads the DMI product serial (root only on most systems).
func readSerial(path string) api.StringFact {
	b, err := os.ReadFile(path)
	if err != nil {
		return api.StringFact{}
	}
	s := strings.TrimSpace(string(b))
	if placeholderSerials[strings.ToLower(s)] {
		return api.StringFact{}
	}
	return api.KnownString(s)
}
