// Package tunmode is the agent's TUN-mode front-end (Linux): one TUN
// interface whose routes are the virtual IPs of the apps the user may
// reach, installed in a routing table of their own that only the
// device's local user's traffic looks up (a uid rule), so other accounts
// on a shared machine have no route to them. Each TCP flow routed into
// the interface is terminated in a user-space stack (tunnel.Terminator)
// and relayed through its app's WireGuard tunnel, registered with it so
// that it is reset when access ends; a flow access refuses is reset at
// once.
//
// Imported by package agent.
package tunmode
