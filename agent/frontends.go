package agent

import (
	"context"

	"github.com/gatehouse-ztna/gatehouse/agent/frontend"
	"github.com/gatehouse-ztna/gatehouse/api"
)

// TUNConfig turns TUN mode on.
type TUNConfig struct {
	// Name of the TUN interface, "gh0" by default.
	Name string
	// NoDNS leaves out the split DNS resolver that otherwise answers
	// APP.<domain> on the interface's address (agent/splitdns).
	NoDNS bool
}

// frontends is several front-ends serving the same apps: the local proxy
// ports first, whose addresses LocalAddr reports before the others'.
type frontends []frontend.Frontend

var _ frontend.Frontend = frontends(nil)

func (fs frontends) SetApps(ctx context.Context, apps []api.AppInfo) {
	for _, f := range fs {
		f.SetApps(ctx, apps)
	}
}

func (fs frontends) LocalAddr(app string, port uint16) string {
	for _, f := range fs {
		if a := f.LocalAddr(app, port); a != "" {
			return a
		}
	}
	return ""
}

func (fs frontends) Stats() frontend.Stats {
	var s frontend.Stats
	for _, f := range fs {
		fst := f.Stats()
		s.RefusedCallers += fst.RefusedCallers
		s.RefusedRequests += fst.RefusedRequests
	}
	return s
}

func (fs frontends) Close() {
	for _, f := range fs {
		f.Close()
	}
}
