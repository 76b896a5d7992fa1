// Package wire frames the websocket protocol of package api for both of its
// sides: typed envelopes written within a timeout, reads held to
// api.MaxMessageBytes, read-one-of-type with the peer's error message as
// the error, and the device-key proof that opens an agent's control
// connection (sign on the agent, verify on the controller).
//
// Imported by the agent's control client and by the controller; it
// imports only api and the websocket library, never either side.
package wire
