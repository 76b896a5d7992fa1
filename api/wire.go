package api

import (
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"
)

// Version is the wire protocol version carried in every envelope.
const Version = 1

// MaxMessageBytes is the read limit on every websocket; a larger message
// closes the connection with status 1009 (message too big).
const MaxMessageBytes = 64 << 10

// Agent websocket path and the message types on it. The controller speaks
// first (hello with a nonce); the agent must answer with auth before any
// other message is accepted.
const (
	AgentWebsocketPath = "/api/v1/agent/ws"

	TypeHello        = "hello"         // controller → agent: HelloMsg
	TypeAuth         = "auth"          // agent → controller: AuthMsg
	TypeWelcome      = "welcome"       // controller → agent: WelcomeMsg
	TypePosture      = "posture"       // agent → controller: PostureReport
	TypeGrantRequest = "grant_request" // agent → controller: GrantRequest
	TypeGrant        = "grant"         // controller → agent: Grant
	TypeDeny         = "deny"          // controller → agent: Denial
	TypeRevoke       = "revoke"        // controller → agent: Revocation
	TypeRenew        = "renew"         // controller → agent: Renewal
	TypeRelease      = "release"       // agent → controller: Release
	TypeDecisions    = "decisions"     // controller → agent: DecisionsMsg
	TypeError        = "error"         // either way: ErrorMsg
)

// Envelope wraps every websocket message.
type Envelope struct {
	V    int             `json:"v"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data,omitempty"`
}

// NewEnvelope marshals data into an envelope of the given type.
func NewEnvelope(typ string, data any) (Envelope, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return Envelope{}, fmt.Errorf("encode %s message: %w", typ, err)
	}
	return Envelope{V: Version, Type: typ, Data: raw}, nil
}

// Decode unmarshals the envelope's data into dst. Unknown fields are
// ignored so that a newer peer may add fields within v1; anything that
// changes the meaning of a message needs a new Version.
func (e Envelope) Decode(dst any) error {
	if e.V != Version {
		return fmt.Errorf("unsupported protocol version %d (this side speaks %d)", e.V, Version)
	}
	if err := json.Unmarshal(e.Data, dst); err != nil {
		return fmt.Errorf("malformed %s message: %w", e.Type, err)
	}
	return nil
}

// AuthProofContext opens every signed link proof, so a device key's
// signature can never be taken for a signature over anything else. The
// string is part of the protocol: its older word "session" stays.
const AuthProofContext = "gatehouse agent session proof v1"

// AuthExporterLabel is the TLS exporter label (RFC 5705, RFC 8446 7.5)
// whose 32-byte value binds a link proof to its TLS connection: a proof
// relayed by a man in the middle onto another connection does not verify.
const AuthExporterLabel = "EXPORTER-gatehouse-agent-auth"

// AuthExporterLength is how many exporter bytes a proof binds.
const AuthExporterLength = 32

// AuthProof is the message a device signs to open its link: the context
// string, then the TLS exporter value (empty over plain HTTP on loopback),
// the device ID and the controller's nonce, each length-prefixed so no two
// different inputs make the same message.
func AuthProof(exporter []byte, deviceID string, nonce []byte) []byte {
	msg := []byte(AuthProofContext)
	for _, part := range [][]byte{exporter, []byte(deviceID), nonce} {
		msg = binary.BigEndian.AppendUint32(msg, uint32(len(part)))
		msg = append(msg, part...)
	}
	return msg
}

// AuthExporter is the exporter value of a link's TLS connection, or nil
// for a plain-HTTP link (allowed on loopback only).
func AuthExporter(cs *tls.ConnectionState) ([]byte, error) {
	if cs == nil {
		return nil, nil
	}
	ekm, err := cs.ExportKeyingMaterial(AuthExporterLabel, nil, AuthExporterLength)
	if err != nil {
		return nil, fmt.Errorf("TLS exporter for the link proof: %w (TLS must end at the controller, with TLS 1.3 or extended master secret)", err)
	}
	return ekm, nil
}

// HelloMsg opens a link: the agent signs Nonce with its device key.
type HelloMsg struct {
	Nonce string `json:"nonce"` // base64
}

// AuthMsg proves the device key: Signature is Ed25519 over
// AuthProof(exporter, DeviceID, nonce), so a signature is good for one
// device, one nonce and one TLS connection only.
type AuthMsg struct {
	DeviceID  string `json:"device_id"`
	Signature string `json:"signature"` // base64
	// AccessToken, when set, is the signed-in session's access token
	// (api/signin.go); the device proof above binds it to this device.
	AccessToken string `json:"access_token,omitempty"`
}

// WelcomeMsg accepts the link.
type WelcomeMsg struct {
	User string `json:"user"`
	// HeartbeatInterval is how often the agent sends a full posture report
	// even when nothing changed.
	HeartbeatInterval Duration `json:"heartbeat_interval"`
	// Query names the extra facts the policy needs, so the first report
	// already has them (DecisionsMsg carries later changes).
	Query PostureQuery `json:"query"`
	// Tunnels are the public keys of this device's live grants; the agent
	// tears down any tunnel not listed (the controller restarted, say).
	Tunnels []string `json:"tunnels"`
	// Session is the signed-in session the access token opened, if any.
	Session *SessionInfo `json:"session,omitempty"`
}

// AppInfo is what an agent knows of an app before it has a tunnel.
type AppInfo struct {
	Name  string   `json:"name"`
	Ports []uint16 `json:"ports"`
	// VirtualIP is the app's address inside its tunnels (api.App's): TUN
	// mode routes it to the device's TUN interface, SOCKS5 accepts the app
	// named by it; empty from an older controller.
	VirtualIP string `json:"virtual_ip,omitempty"`
}

// GrantRequest asks for a tunnel to App; PublicKey is the WireGuard public
// key the agent made for this tunnel alone (base64).
type GrantRequest struct {
	App       string `json:"app"`
	PublicKey string `json:"public_key"`
}

// Grant answers a GrantRequest with everything the agent needs to bring the
// tunnel up.
type Grant struct {
	App              string   `json:"app"`
	PublicKey        string   `json:"public_key"`         // the agent's key this grant is for`
	GatewayEndpoint  string   `json:"gateway_endpoint"`   // host:port (UDP)
	GatewayPublicKey string   `json:"gateway_public_key"` // base64
	OverlayAddr      string   `json:"overlay_addr"`       // this tunnel's /32
	VirtualIP        string   `json:"virtual_ip"`         // the app inside the tunnel
	Ports            []uint16 `json:"ports"`
	// Lease is how long the grant lives from when the agent receives it,
	// unless renewed: each side times it on its own monotonic clock, so no
	// side trusts another's wall clock.
	Lease Duration `json:"lease"`
}

// Denial answers the GrantRequest for App with PublicKey.
type Denial struct {
	App       string   `json:"app"`
	PublicKey string   `json:"public_key"`
	Reasons   []Reason `json:"reasons"`
}

// Revocation takes the grant of App with PublicKey back; the agent closes
// that tunnel's connections and tears it down (a newer tunnel of the same
// app, under another key, stays).
type Revocation struct {
	App       string   `json:"app"`
	PublicKey string   `json:"public_key"`
	Reasons   []Reason `json:"reasons"`
}

// Renewal extends a live grant's lease. An agent that holds no tunnel
// with PublicKey for App answers with a Release, so grants it lost (say, in
// a restart) do not live on.
type Renewal struct {
	App       string `json:"app"`
	PublicKey string `json:"public_key"`
	// Lease is the grant's new remaining life, from receipt.
	Lease Duration `json:"lease"`
}

// Release tells the controller the agent no longer wants the grant of App
// with PublicKey; a newer grant of the same app under another key stays.
type Release struct {
	App       string `json:"app"`
	PublicKey string `json:"public_key"`
}

// DecisionsMsg carries the current decision for every app the user is
// entitled to (named by a policy for one of their groups, whatever the
// posture), so `gatehouse apps` can say why before a connection is tried.
// Apps outside every policy of the user are never in Apps; asking for one
// is answered with a Denial, and from then on Decisions also holds its
// decision (with the reason) for as long as the controller remembers the
// request.
//
// A set larger than MaxMessageBytes travels as several pages (see
// SplitDecisions): Page counts from 0 to Pages-1, the pages of one set are
// sent back to back, and the agent applies the set only when the last one
// has arrived (DecisionPages). Pages 0 or 1 means the message is the whole
// set, which is all a controller older than paging ever sends.
type DecisionsMsg struct {
	Apps      []AppInfo  `json:"apps"`
	Decisions []Decision `json:"decisions"`
	// Checks are the posture checks of every profile the user's policies
	// require, run on the latest report.
	Checks []CheckResult `json:"checks"`
	// Query names the extra facts the policy needs in posture reports.
	Query PostureQuery `json:"query"`
	// Domain is the organisation's Gatehouse DNS domain: apps are named
	// APP.<Domain> (split DNS, SOCKS5). Empty (a controller older than the
	// field) means DefaultDNSDomain. It travels on the first page.
	Domain string `json:"domain,omitempty"`
	Page   int    `json:"page,omitempty"`
	Pages  int    `json:"pages,omitempty"`
}

// ErrorMsg reports a request the other side could not accept.
type ErrorMsg struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// CodeRateLimited is the ErrorMsg (and Reason) code of a message the
// controller dropped because its link sent too many too fast; the link
// stays up.
const CodeRateLimited = "rate_limited"

// Duration is a time.Duration that travels as a Go duration string ("5s").
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"5s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// PeerConfig is what a controller tells a gateway to install for a grant.
type PeerConfig struct {
	PublicKey    string        `json:"public_key"`
	OverlayAddr  string        `json:"overlay_addr"` // the peer's /32
	App          string        `json:"app"`
	Destinations []Destination `json:"destinations"`
	// Lease is how long the peer lives from when the gateway receives it,
	// on the gateway's own monotonic clock.
	Lease Duration `json:"lease"`
}

// Destination maps an address inside the tunnel to the real upstream.
type Destination struct {
	VirtualAddr string `json:"virtual_addr"` // virtual IP:port
	Upstream    string `json:"upstream"`     // host:port the gateway dials
}
