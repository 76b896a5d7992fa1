// Package httpapi is the controller's HTTP transport: the server
// (listener, TLS from controller/pki, timeouts, connection cap, per-source
// limits on enrollment and websocket upgrades, body caps), the admin REST
// API, device and gateway enrollment, sign-in (the OAuth device
// authorization grant's endpoints and the server-rendered login pages
// with their CSRF-protected browser sessions), and the agent and gateway
// websockets. Handlers are thin: they decode, authenticate the caller to
// a controller.Actor (one middleware), call the core (package
// controller) and map its typed errors to statuses. The agent websocket's
// read and write pumps live here; what the messages do lives in the core.
//
// Imported by cmd/gatehouse-controller and end-to-end tests; it imports
// the core, never the other way round.
package httpapi
