// Package grants owns the grant lifecycle: one grant is one (device, app)
// tunnel with a lease. The Manager issues grants the policy allows,
// installs their peers on the app's gateway (through the Enforcer
// registry), renews leases, moves grants whose app changed, revokes those
// that no longer pass or whose gateway lost their peer, and expires those
// nobody renewed. It answers a grant request on the link it came on, and
// emits typed Events (issued, denied, renewed, revoked, expired, released,
// moved) that the controller's agent pusher (which sends renewals and
// revocations to agents), and later the audit log and metrics, subscribe
// to. Time comes from an injected Clock, so its tests advance a fake one
// instead of sleeping.
//
// Imported by controller, and by controller/gateways for ErrPeerLost.
package grants
