package api

import (
	"encoding/binary"
	"time"
)

// The standalone gateway's side of the protocol: its websocket to the
// controller, its enrollment, and the REST objects that describe it.
//
// The gateway dials out (it needs no inbound port but WireGuard's UDP). The
// controller speaks first, as on the agent websocket:
//
//	controller                                        gateway
//	  hello {nonce} ─────────────────────────────────────►
//	  ◄──────── gateway_auth {gateway_id, sig, version, endpoint, wg key}
//	  gateway_welcome {name, status_interval} ───────────►
//	  peer_sync {id, peers, page, pages} ────────────────►  (the full set, every connect)
//	  ◄──────────────────────────────── peer_ack {id, error}
//	  peer_add {id, peer} / peer_renew {id, key, lease} /
//	  peer_remove {id, key} ─────────────────────────────►
//	  ◄──────────────────────────────── peer_ack {id, error}
//	  ◄──────────────────────────────── gateway_status {…}  (every status_interval)
//	  error {code, message} ◄────────────────────────────►
//
// Envelopes, versioning and the read limit are those of the agent
// websocket (Envelope, Version, MaxMessageBytes).
const (
	GatewayWebsocketPath = "/api/v1/gateway/ws"
	// GatewayEnrollPath (POST GatewayEnrollRequest → GatewayEnrollResponse)
	// spends a gateway enrollment token; it takes no admin token.
	GatewayEnrollPath = "/api/v1/gateway/enroll"
	// PathGateways (GET) lists Gateway objects; DELETE PathGateways/{name}
	// forgets one (its key stops working at once).
	PathGateways = "/api/v1/gateways"
	// PathGatewayTokens (POST GatewayTokenRequest) makes a gateway
	// enrollment token; GET lists them without their secrets.
	PathGatewayTokens = "/api/v1/gateway-tokens"

	TypeGatewayAuth    = "gateway_auth"    // gateway → controller: GatewayAuthMsg
	TypeGatewayWelcome = "gateway_welcome" // controller → gateway: GatewayWelcomeMsg
	TypePeerSync       = "peer_sync"       // controller → gateway: PeerSync
	TypePeerAdd        = "peer_add"        // controller → gateway: PeerAdd
	TypePeerRenew      = "peer_renew"      // controller → gateway: PeerRenew
	TypePeerRemove     = "peer_remove"     // controller → gateway: PeerRemove
	TypePeerAck        = "peer_ack"        // gateway → controller: PeerAck
	TypeGatewayStatus  = "gateway_status"  // gateway → controller: GatewayStatus
)

// GatewayAuthProofContext opens every gateway link proof. It differs
// from AuthProofContext, so a gateway's signature never verifies as a
// device's and a device's never as a gateway's, even were the same
// Ed25519 key and ID enrolled as both. The string is part of the
// protocol: its older word "session" stays.
const GatewayAuthProofContext = "gatehouse gateway session proof v1"

// GatewayAuthProof is the message a gateway signs to open its link: like
// AuthProof (TLS exporter of this connection, gateway ID, controller's
// nonce, each length-prefixed) under GatewayAuthProofContext.
func GatewayAuthProof(exporter []byte, gatewayID string, nonce []byte) []byte {
	msg := []byte(GatewayAuthProofContext)
	for _, part := range [][]byte{exporter, []byte(gatewayID), nonce} {
		msg = binary.BigEndian.AppendUint32(msg, uint32(len(part)))
		msg = append(msg, part...)
	}
	return msg
}

// GatewayAuthMsg answers hello on the gateway websocket. Signature is
// Ed25519 over GatewayAuthProof(exporter, GatewayID, nonce) with the key
// the gateway enrolled. The rest describes the gateway as it runs now.
type GatewayAuthMsg struct {
	GatewayID string `json:"gateway_id"`
	Signature string `json:"signature"` // base64
	Version   string `json:"version"`
	// Endpoint is the UDP host:port agents reach this gateway's WireGuard at.
	Endpoint string `json:"endpoint"`
	// WireGuardKey is the gateway's WireGuard public key (base64); it is
	// not the enrolled Ed25519 key and may change at every start.
	WireGuardKey string `json:"wireguard_key"`
}

// GatewayWelcomeMsg accepts the link.
type GatewayWelcomeMsg struct {
	Name string `json:"name"`
	// StatusInterval is how often the gateway sends a GatewayStatus.
	StatusInterval Duration `json:"status_interval"`
}

// PeerSync is the full peer set the controller wants this gateway to
// hold, sent on every connect. Each peer's Lease counts from receipt, on
// the gateway's monotonic clock. The gateway installs every listed peer
// (updating one it holds in place) and removes every peer not listed,
// then acks ID once. A set larger than MaxMessageBytes travels as Pages
// messages with the same ID, back to back (Page 0…Pages-1); the gateway
// applies the set when the last arrives. Pages 0 or 1: one message.
type PeerSync struct {
	ID    uint64       `json:"id"`
	Peers []PeerConfig `json:"peers"`
	Page  int          `json:"page,omitempty"`
	Pages int          `json:"pages,omitempty"`
}

// PeerAdd installs (or updates in place) one grant's peer.
type PeerAdd struct {
	ID   uint64     `json:"id"`
	Peer PeerConfig `json:"peer"`
}

// PeerRenew gives a held peer Lease more life from receipt.
type PeerRenew struct {
	ID        uint64   `json:"id"`
	PublicKey string   `json:"public_key"`
	Lease     Duration `json:"lease"`
}

// PeerRemove resets a peer's open flows and removes it.
type PeerRemove struct {
	ID        uint64 `json:"id"`
	PublicKey string `json:"public_key"`
}

// PeerAck answers the request ID: Error is empty when the gateway applied
// it. The controller tells an agent about a grant only after its ack.
type PeerAck struct {
	ID    uint64 `json:"id"`
	Error string `json:"error,omitempty"`
	// Code is CodeUnknownPeer when a renew or remove named a peer the
	// gateway does not hold.
	Code string `json:"code,omitempty"`
}

// CodeUnknownPeer is the PeerAck code for a key the gateway does not hold.
const CodeUnknownPeer = "unknown_peer"

// MaxStatusPeers bounds GatewayStatus.PeerStats so a status always fits
// in MaxMessageBytes; the totals still count every peer.
const MaxStatusPeers = 256

// GatewayStatus is the gateway's periodic report.
type GatewayStatus struct {
	Version   string `json:"version"`
	Peers     int    `json:"peers"`
	OpenFlows int    `json:"open_flows"`
	// FlowsTotal counts flows admitted since the gateway started.
	FlowsTotal uint64 `json:"flows_total"`
	// HalfOpen, SYNDropped and HandshakesTimedOut are the WireGuard
	// server's handshake counters (see the gateway limits).
	HalfOpen           int    `json:"half_open"`
	SYNDropped         uint64 `json:"syn_dropped"`
	HandshakesTimedOut uint64 `json:"handshakes_timed_out"`
	// PeerStats lists at most MaxStatusPeers peers, busiest first.
	PeerStats []GatewayPeerStat `json:"peer_stats,omitempty"`
}

// GatewayPeerStat is one peer's share of a GatewayStatus.
type GatewayPeerStat struct {
	PublicKey string `json:"public_key"`
	OpenFlows int    `json:"open_flows"`
}

// GatewayEnrollRequest is sent by `gatehouse-gateway enroll`; at most 4 KiB.
type GatewayEnrollRequest struct {
	Token     string `json:"token"`
	PublicKey string `json:"public_key"` // Ed25519, base64
}

// GatewayEnrollResponse names the new gateway.
type GatewayEnrollResponse struct {
	GatewayID string `json:"gateway_id"`
	Name      string `json:"name"`
}

// GatewayTokenRequest asks for an enrollment token for gateway Name (the
// name apps use in --gateway). TTL defaults to 1 h and may be at most 7 days.
type GatewayTokenRequest struct {
	Name string   `json:"name"`
	TTL  Duration `json:"ttl,omitempty"`
}

// GatewayEnrollmentToken is a single-use secret that enrolls one gateway
// under Gateway's name. Token is set only in the answer that made it.
type GatewayEnrollmentToken struct {
	ID        string    `json:"id"`
	Gateway   string    `json:"gateway"`
	Token     string    `json:"token,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
	Used      bool      `json:"used"`
}

// Gateway states in the REST Gateway object.
const (
	GatewayOnline  = "online"
	GatewayOffline = "offline"
)

// Gateway is an enrolled standalone gateway as `gatehouse admin gateways
// list` shows it. State, Peers and Endpoint are live (from the hub);
// Version and LastSeen are kept across controller restarts.
type Gateway struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	PublicKey  string    `json:"public_key"` // the enrolled Ed25519 key, base64
	EnrolledAt time.Time `json:"enrolled_at"`
	State      string    `json:"state"`
	Version    string    `json:"version,omitempty"`
	Endpoint   string    `json:"endpoint,omitempty"`
	Peers      int       `json:"peers"`
	OpenFlows  int       `json:"open_flows"`
	LastSeen   time.Time `json:"last_seen,omitzero"`
}
