//go:build !linux

package posture

import (
	"context"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// runningSoftware is not read on this OS yet: every asked executable stays
// unknown, which fails its check.
func runningSoftware(_ context.Context, specs []string) map[string]softwareVerdict {
	out := make(map[string]softwareVerdict, len(specs))
	for _, s := range specs {
		out[s] = softwareVerdict{api.BoolFact{}, "executable checks are not implemented on this OS"}
	}
	return out
}
