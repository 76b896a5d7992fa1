package posture

import (
	"context"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// Source collects one posture report about this device.
type Source interface {
	// Collect never fails as a whole: a fact it cannot read stays
	// Known=false (unknown is never a pass), and the rest of the report is
	// still filled. The Processes, Forbidden and Files maps contain exactly
	// the specs in q.Processes, q.Forbidden and q.Files (nil when none are
	// asked), each true, false or unknown; a path spec is matched by
	// executable file, not by name, and a forbidden path or sha256 by
	// content too. Collect is safe for concurrent use and returns early
	// with unknown facts when ctx is done.
	Collect(ctx context.Context, q api.PostureQuery) api.PostureReport
}
