// Package agent is the device side: enrollment, the controller session
// (device-key proof, posture reports, grant requests), one WireGuard tunnel
// per app with its own key pair, local proxy ports that bring a tunnel up on
// first use, and the local API the CLI and tray read.
//
// Imported by cmd/gatehouse-agent and end-to-end tests.
package agent
