// Package socks5 is the agent's SOCKS5 front-end: one loopback listener
// (gatehouse-agent run --socks5 127.0.0.1:1080) through which programs
// that speak SOCKS5 (browsers, curl --socks5-hostname, ssh through nc -X 5)
// reach the user's apps by name. It is not an open proxy: the only
// destinations are the apps the user is entitled to, named by the agent
// (APP or APP.gatehouse) on one of the app's ports; only CONNECT is served,
// only to the device's local user (see agent/localpeer), and every flow is
// registered with the app's tunnel, which resets it when access ends.
// The protocol itself is github.com/armon/go-socks5, driven through its
// Resolver, Rules and Dial hooks.
//
// Imported by package agent.
package socks5
