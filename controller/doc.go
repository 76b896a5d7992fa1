// Package controller is the policy engine and policy administrator: the
// admin REST API, enrollment, the agent websocket links, and the grant
// lifecycle (requested → granted → renewed → revoked or expired) that it
// drives on a gateway through the Enforcer interface.
//
// Imported by cmd/gatehouse-controller and end-to-end tests only.
package controller
