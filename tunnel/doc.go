// Package tunnel is the WireGuard data plane, in user space: key pairs, and
// wireguard-go devices over a gVisor netstack for both ends of a grant — a
// Client that dials into one app's tunnel (the agent's side) and a Server
// whose netstack accepts flows to any address and asks its owner whether each
// may pass (the gateway's side).
//
// Imported by agent, gateway, benchmarks and tests; it knows nothing of
// policy, grants or the controller.
package tunnel
