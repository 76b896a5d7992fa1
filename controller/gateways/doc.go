// Package gateways is the controller's side of standalone gateways: a Hub
// that serves each gateway's link (over a websocket controller/httpapi
// upgraded), authenticates each gateway by its enrolled Ed25519 key, sends
// it the full peer set it should hold on every connect, and exposes each gateway by name as a Remote with the
// controller's Enforcer method set — AddPeer, RenewPeer and RemovePeer
// return only once the gateway has acknowledged, and fail at once, saying
// so, while it is offline. Register and Unregister callbacks let the
// controller's registry follow gateways coming and going.
//
// Imported by package controller (and tests).
package gateways
