// Package controller is the controller's core: the policy engine and
// policy administrator. It holds the admin objects and their domain
// operations (each takes the acting Actor, validates, writes and returns a
// Change that it commits: re-deciding live grants, ending links), the
// agents' links (who is linked, their posture, decision sets and message
// queues), and the grant lifecycle (controller/grants) it drives on the
// gateways registered with it through the Enforcer interface. Its errors
// are typed (ErrInvalid, ErrNotFound, ErrConflict, ...). It never sees
// HTTP: controller/httpapi serves it.
//
// Imported by controller/httpapi, cmd/gatehouse-controller and
// end-to-end tests only; it imports no transport.
package controller
