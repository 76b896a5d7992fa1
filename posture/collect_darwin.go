package posture

import (
	"context"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/shirou/gopsutil/v4/host"
)

const osFamily = "darwin"

// collectSlow fills what gopsutil can tell on macOS. FileVault, the
// application firewall, screen lock, secure boot and the serial need
// fdesetup, socketfilterfw, ioreg and friends; until they are read they
// stay unknown.
func collectSlow(ctx context.Context) slowFacts {
	f := slowFacts{OSName: api.KnownString("macos")}
	if _, _, version, err := host.PlatformInformationWithContext(ctx); err == nil && version != "" {
		f.OSVersion = api.KnownString(version)
	}
	return f
}
