//go:build !linux && !darwin && !windows

package posture

import (
	"context"
	"runtime"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/shirou/gopsutil/v4/host"
)

// osFamily on an unsupported OS is its Go name (freebsd, openbsd, ...);
// policies for linux, darwin and windows will not match it.
const osFamily = runtime.GOOS

// collectSlow fills only what gopsutil can tell; the rest stays unknown.
func collectSlow(ctx context.Context) slowFacts {
	var f slowFacts
	markMoreFactsUnread(&f)
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
