package posture

import (
	"github.com/gatehouse-ztna/gatehouse/api"
)

const srcFiles = "stat and sha256 of the file and its directories"

// requiredFiles reports, for each spec (PATH or PATH:SHA256), whether the
// file is there as asked: a regular file owned by root, not writable by
// group or others, in directories only root can change (so no user could
// have put it there or swapped it), with the given SHA-256 when one is
// given. A missing or user-controlled file is known false with the reason.
func requiredFiles(specs []string) map[string]api.BoolFact {
	if len(specs) == 0 {
		return nil
	}
	out := make(map[string]api.BoolFact, len(specs))
	for _, spec := range specs {
		path, sum, err := api.ParseFileSpec(spec)
		if err != nil {
			out[spec] = unknownBool(srcFiles, err.Error())
			continue
		}
		if fi, why := trustedExecutable(path, sum); fi == nil {
			out[spec] = api.BoolFact{Known: true, Source: srcFiles, Reason: why}
			continue
		}
		reason := path + " is root-owned and not writable by others"
		if sum != "" {
			reason += ", sha256 matches"
		}
		out[spec] = api.BoolFact{Value: true, Known: true, Source: srcFiles, Reason: reason}
	}
	return out
}
