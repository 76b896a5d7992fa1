// Package agent is the device side's state machine and its wiring:
// enrollment, the posture loop, one WireGuard tunnel per app with its own
// key pair (granted, renewed, revoked, expired), the decisions the
// controller sent, and the local API the CLI and tray read. The control
// connection is agent/controlclient; the ways in to the apps are
// front-ends (agent/proxy today) behind agent/frontend.
//
// Imported by cmd/gatehouse-agent and end-to-end tests.
package agent
