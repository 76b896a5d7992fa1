package posture

import (
	"context"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/shirou/gopsutil/v4/host"
)

const osFamily = "windows"

// collectSlow fills what gopsutil can tell on Windows: the edition (e.g.
// "Microsoft Windows 11 Pro") and version with build. BitLocker, Windows
// Firewall, screen lock, secure boot and the serial need WMI or the
// registry; until they are read they stay unknown.
func collectSlow(ctx context.Context) slowFacts {
	var f slowFacts
	platform, _, version, err := host.PlatformInformationWithContext(ctx)
	if err != nil {
		return f
	}
	if platform != "" {
		f.OSName = api.KnownString(platform)
	}
	if version != "" {
		f.OSVersion = api.KnownString(version)
	}
	return f
}
