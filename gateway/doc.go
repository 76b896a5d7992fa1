// Package gateway is the enforcement point in front of the apps: it
// terminates WireGuard in user space, admits a new flow only when a live
// grant allows that peer to reach that destination, forwards it to the real
// upstream, and ends a grant — resetting its open flows first — on revoke
// or at lease expiry, whether or not the controller is still there.
//
// Imported by the controller (the embedded gateway) and cmd/gatehouse-gateway.
package gateway
