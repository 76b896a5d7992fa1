// Package api holds the wire protocol (v1) shared by agent, controller and
// gateway: the websocket message envelope and payloads, the posture report,
// decisions with their reasons, and the admin REST types.
//
// Every other package may import api; api imports only the standard library.
package api
