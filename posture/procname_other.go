//go:build !linux

package posture

import (
	"context"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/shirou/gopsutil/v4/process"
)

// processName is p's name as gopsutil gives it.
func processName(ctx context.Context, p *process.Process, _ map[string]api.BoolFact) (string, error) {
	return p.NameWithContext(ctx)
}
