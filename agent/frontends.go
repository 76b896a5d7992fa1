package agent

import (
	"context"

	"github.com/gatehouse-ztna/gatehouse/agent/frontend"
	"github.com/gatehouse-ztna/gatehouse/api"
)

// frontends is several front-ends as one: each is told the apps, the
// first that has a local address for an app port names it, and their
// refusals add up.
type frontends []frontend.Frontend

var _ frontend.Frontend = frontends(nil)

func (fs frontends) SetApps(ctx context.Context, apps []api.AppInfo) {
	for _, f := range fs {
		f.SetApps(ctx, apps)
	}
}

func (fs frontends) LocalAddr(app string, port uint16) string {
	for _, f := range fs {
		if addr := f.LocalAddr(app, port); addr != "" {
			return addr
		}
	}
	return ""
}

func (fs frontends) Stats() frontend.Stats {
	var sum frontend.Stats
	for _, f := range fs {
		st := f.Stats()
		sum.RefusedCallers += st.RefusedCallers
		sum.RefusedRequests += st.RefusedRequests
	}
	return sum
}

func (fs frontends) Close() {
	for _, f := range fs {
		f.Close()
	}
}
