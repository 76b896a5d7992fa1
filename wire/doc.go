// Package wire frames the websocket protocol of package api for both of its
// sides: typed envelopes written within a timeout, reads held to
// api.MaxMessageBytes, read-one-of-type with the peer's error message as
// the error, and the key proofs that open a link: a device's (sign on the
// agent, verify on the controller) and a standalone gateway's (sign on the
// gateway, verify on the controller's hub). Before any link, the client
// end of enrollment: the CA-pinned HTTP client (HTTPClient) and the one
// exchange that spends a single-use token, kept as two functions over two
// request types (EnrollDevice, EnrollGateway) so the kinds never cross;
// and the agent's end of sign-in, the device authorization grant
// (StartDeviceAuthorization, PollToken).
//
// Imported by every websocket speaker: the agent's control client, the
// controller's agent link and gateway hub, and the gateway's link; and by
// the agent's and the gateway's enrollment, and by `gatehouse admin
// login` (the device flow as gatehouse-admin). It imports only api and the
// websocket library, never any side.
package wire
