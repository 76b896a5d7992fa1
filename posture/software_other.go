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

// forbiddenSoftware is not read on this OS yet: every asked spec stays
// unknown, which fails its check.
func forbiddenSoftware(_ context.Context, specs []string) map[string]api.BoolFact {
	return unknownAll(specs, "forbidden software checks are not implemented on this OS")
}

// requiredFiles is not read on this OS yet.
func requiredFiles(specs []string) map[string]api.BoolFact {
	return unknownAll(specs, "file checks are not implemented on this OS")
}

func unknownAll(specs []string, reason string) map[string]api.BoolFact {
	if len(specs) == 0 {
		return nil
	}
	out := make(map[string]api.BoolFact, len(specs))
	for _, s := range specs {
		out[s] = unknownBool("", reason)
	}
	return out
}

// markMoreFactsUnread gives issue 8's facts that this OS's collector left
// unread (no value, no reason) the reason why.
func markMoreFactsUnread(f *slowFacts) {
	const why = "not read on this OS yet"
	if !f.AutoUpdates.Known && f.AutoUpdates.Reason == "" {
		f.AutoUpdates = unknownBool("", "automatic updates are "+why)
	}
	if !f.DaysSinceUpdate.Known && f.DaysSinceUpdate.Reason == "" {
		f.DaysSinceUpdate = api.IntFact{Reason: "the last update is " + why}
	}
	if !f.MachineID.Known && f.MachineID.Reason == "" {
		f.MachineID = unknownString("", "the machine ID is "+why)
	}
}
