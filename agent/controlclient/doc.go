// Package controlclient is the agent's control connection to the
// controller: it dials, proves the device key, keeps the connection up
// with jittered exponential backoff, decodes what the controller sends
// into typed calls on a Handler (decision pages already assembled), and
// sends the agent's typed messages through Sender. It knows nothing of
// tunnels, ports or posture collection.
//
// Imported by package agent and its tests.
package controlclient
