package posture

import (
	"context"
	"sync"
	"time"
)

// collectMoreSlow fills the slow facts issue 8 added: screen lock,
// automatic updates, days since the last update and the machine ID. The
// two that run tools (gsettings, apt-config or systemctl) run at once.
func collectMoreSlow(ctx context.Context, f *slowFacts) {
	u := realUpdateSystem()
	var wg sync.WaitGroup
	// Each goroutine writes its own fields of f only.
	wg.Go(func() { f.ScreenLock = realScreenLocker().screenLock(ctx) })
	wg.Go(func() { f.AutoUpdates = u.autoUpdates(ctx) })
	f.DaysSinceUpdate = u.daysSinceUpdate(ctx, time.Now())
	f.MachineID = machineID(machineIDPath)
	wg.Wait()
}
