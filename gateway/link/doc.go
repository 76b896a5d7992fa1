// Package link is the standalone gateway's control connection: it enrolls
// the gateway, dials the controller's gateway websocket over TLS trusting
// only the enrolled CA, proves the gateway's Ed25519 key, applies the full
// peer set on every (re)connect and each add/renew/remove with an ack, and
// reports status. While the controller is unreachable it changes nothing:
// each peer lives until its lease runs out on the gateway's own monotonic
// clock, then drops (fail closed).
//
// Imported by cmd/gatehouse-gateway and tests.
package link
