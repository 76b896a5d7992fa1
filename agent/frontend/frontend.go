// Package frontend is the contract between the agent's state machine
// (grants, tunnels, decisions) and its front-ends, the ways an
// application on the device reaches an app: local proxy ports today
// (agent/proxy), a TUN interface next. A front-end asks Access for an
// app's tunnel on first use, registers each flow's connections with it,
// and is aborted by it when access ends; it never talks to the controller.
//
// Imported by package agent and by every front-end.
package frontend

import (
	"context"
	"net"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// Access is the agent's state machine as a front-end sees it.
type Access interface {
	// Tunnel returns app's live tunnel, asking the controller for a grant
	// (under a fresh key pair) when there is none and waiting for the
	// answer. A refusal is an error carrying the controller's reasons.
	Tunnel(ctx context.Context, app string) (Tunnel, error)
	// Decision is the controller's latest decision on app; false when
	// none is known yet (the first flow asks, and the controller decides).
	Decision(app string) (api.Decision, bool)
}

// Tunnel is one app's live tunnel.
type Tunnel interface {
	// Dial opens a TCP connection to the app's port through the tunnel.
	Dial(ctx context.Context, port uint16) (net.Conn, error)
	// Track registers the connections of one flow. When access ends
	// (revoked, lease expired, app removed, controller lost the grant,
	// agent stopping) every tracked connection is aborted with a reset,
	// never closed in order. false means access has already ended: the
	// caller must close cs itself.
	Track(cs ...net.Conn) bool
	// Untrack forgets a flow that ended on its own.
	Untrack(cs ...net.Conn)
}

// Frontend is one way in to the apps.
type Frontend interface {
	// SetApps is told the apps the user is entitled to each time the list
	// changes: the front-end opens a way in to each and closes those of
	// apps no longer listed. Flows it serves run until ctx ends.
	SetApps(ctx context.Context, apps []api.AppInfo)
	// LocalAddr is where the app's port is reachable on this device, or
	// "" when it is not (yet).
	LocalAddr(app string, port uint16) string
	// Stats counts what the front-end refused.
	Stats() Stats
	// Close closes every way in; flows already tracked end with their
	// tunnels.
	Close()
}

// Stats counts a front-end's refusals, for `gatehouse status`.
type Stats struct {
	RefusedCallers  int64 // connections refused: not the device's local user
	RefusedRequests int64 // HTTP requests refused: the Host names another site; SOCKS requests refused: no app port
}
