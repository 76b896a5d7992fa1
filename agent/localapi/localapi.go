// Package localapi is the agent's local API: the types the agent serves on
// its unix socket and a client for them. The CLI and the tray use only this
// package to talk to the agent.
//
// Imported by agent, cmd/gatehouse, gui and tests.
package localapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// Paths served on the socket.
const (
	PathStatus  = "/v1/status"
	PathApps    = "/v1/apps"
	PathPosture = "/v1/posture"
	// PathConnect (POST, ?app=NAME) brings an app's tunnel up now; the
	// answer is the App, denied with its reasons when access is refused.
	PathConnect = "/v1/connect"
	// PathLogin: POST starts a sign-in (the device authorization grant)
	// and answers the Login with its page and code; GET is the Login as
	// it stands, for the CLI that waits on it.
	PathLogin = "/v1/login"
	// PathLogout (POST) ends the signed-in session; the answer is Logout.
	PathLogout = "/v1/logout"
	// PathRequest (POST, body api.AccessRequestInput) asks the controller
	// for just-in-time access; the answer is the api.AccessRequest.
	PathRequest = "/v1/request"
)

// Login states.
const (
	LoginPending  = "pending"   // waiting for the user to finish in the browser
	LoginSignedIn = "signed_in" // the tokens are stored and the link presents them
	LoginFailed   = "failed"    // Error says why and what to do
)

// Login is a sign-in through the device authorization grant.
type Login struct {
	State string `json:"state"` // LoginPending, LoginSignedIn, LoginFailed; "" before any
	// VerificationURI is the page to open; VerificationURIComplete has
	// the code in it already.
	VerificationURI         string    `json:"verification_uri,omitempty"`
	VerificationURIComplete string    `json:"verification_uri_complete,omitempty"`
	UserCode                string    `json:"user_code,omitempty"`
	ExpiresAt               time.Time `json:"expires_at,omitzero"`
	User                    string    `json:"user,omitempty"` // who signed in
	Error                   string    `json:"error,omitempty"`
}

// Session is the device's signed-in session as `gatehouse status` shows it.
type Session struct {
	SignedIn bool     `json:"signed_in"`
	User     string   `json:"user,omitempty"`
	Methods  []string `json:"methods,omitempty"` // "pwd", "otp", "webauthn", "oidc"
	// ExpiresAt is when the access token runs out (the agent refreshes it
	// before).
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Ended says why the last session ended (Code, Message, the fix), when
	// one ended since the agent started and none is signed in now.
	Ended *api.Reason `json:"ended,omitempty"`
	// Problem is trouble with a live session (its new tokens could not be
	// saved, say).
	Problem string `json:"problem,omitempty"`
}

// Logout answers a logout.
type Logout struct {
	// Warning is set when the device forgot its tokens but could not tell
	// the controller.
	Warning string `json:"warning,omitempty"`
}

// Status is the agent's state, for `gatehouse status`.
type Status struct {
	Controller string   `json:"controller"`
	DeviceID   string   `json:"device_id"`
	User       string   `json:"user"`
	Connected  bool     `json:"connected"`
	LastError  string   `json:"last_error,omitempty"`
	SecretsIn  string   `json:"secrets_in"`
	Session    Session  `json:"session"`
	Tunnels    []Tunnel `json:"tunnels"`
	// LocalUser is the only local account the proxy ports serve.
	LocalUser string `json:"local_user"`
	// RefusedCallers counts local connections refused because another
	// local user (or no user that could be found) was calling.
	RefusedCallers int64 `json:"refused_callers"`
	// RefusedRequests counts HTTP requests refused because they named
	// another host than the app's local address or name (DNS rebinding),
	// and SOCKS5 requests refused because they named no app port.
	RefusedRequests int64 `json:"refused_requests"`
	// Exported names the apps whose grant is exported as a WireGuard
	// config (`gatehouse connect APP --wireguard-config`).
	Exported []string `json:"exported,omitempty"`
	// DNSDomain is the organisation's Gatehouse domain: apps are named
	// APP.<DNSDomain>.
	DNSDomain string `json:"dns_domain,omitempty"`
	// TUN is the TUN interface's name in TUN mode; DNSResolver the split
	// DNS resolver's address on it and DNSVia how names reach it
	// (systemd-resolved, or configured by hand); empty when off.
	TUN         string `json:"tun,omitempty"`
	DNSResolver string `json:"dns_resolver,omitempty"`
	DNSVia      string `json:"dns_via,omitempty"`
}

// Tunnel is one live per-app tunnel.
type Tunnel struct {
	App         string    `json:"app"`
	PublicKey   string    `json:"public_key"`
	OverlayAddr string    `json:"overlay_addr"`
	VirtualIP   string    `json:"virtual_ip"`
	ExpiresAt   time.Time `json:"expires_at"`
	OpenConns   int       `json:"open_conns"`
}

// App is one app as the user sees it: allowed or denied, why, and where to
// reach it.
type App struct {
	Name       string       `json:"name"`
	Allowed    bool         `json:"allowed"`
	Reasons    []api.Reason `json:"reasons,omitempty"`
	LocalAddrs []string     `json:"local_addrs"` // 127.0.0.1:PORT, one per app port
	TunnelUp   bool         `json:"tunnel_up"`
	// AccessUntil is when just-in-time access to the app ends (zero:
	// the app needs none, or it is not approved).
	AccessUntil time.Time `json:"access_until,omitzero"`
	// DNSName is APP.<the organisation's domain>; VirtualIP the app's
	// address in TUN mode (empty outside it).
	DNSName   string `json:"dns_name,omitempty"`
	VirtualIP string `json:"virtual_ip,omitempty"`
}

// Posture is the latest report and the controller's checks on it.
type Posture struct {
	Report *api.PostureReport `json:"report"`
	Checks []api.CheckResult  `json:"checks"`
}

// Client talks to an agent over its socket.
type Client struct {
	http *http.Client
}

// NewClient talks to the agent at path: its unix socket, or on Windows
// its named pipe (dialAgent).
func NewClient(path string) *Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return dialAgent(ctx, path)
	}}
	return &Client{http: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	return s, c.get(ctx, PathStatus, &s)
}

func (c *Client) Apps(ctx context.Context) ([]App, error) {
	var a []App
	return a, c.get(ctx, PathApps, &a)
}

func (c *Client) Posture(ctx context.Context) (Posture, error) {
	var p Posture
	return p, c.get(ctx, PathPosture, &p)
}

// Connect asks the agent to bring app's tunnel up (asking the controller
// for a grant if needed) and returns the app as `gatehouse apps` shows it
// then: allowed with its tunnel up, or denied with the reasons.
func (c *Client) Connect(ctx context.Context, app string) (App, error) {
	var a App
	return a, c.do(ctx, http.MethodPost, PathConnect+"?app="+url.QueryEscape(app), &a)
}

// Login asks the agent to start a sign-in; the answer holds the page to
// open and the code to enter there.
func (c *Client) Login(ctx context.Context) (Login, error) {
	var l Login
	return l, c.do(ctx, http.MethodPost, PathLogin, &l)
}

// LoginState is the sign-in as it stands.
func (c *Client) LoginState(ctx context.Context) (Login, error) {
	var l Login
	return l, c.get(ctx, PathLogin, &l)
}

// Logout asks the agent to end the signed-in session.
func (c *Client) Logout(ctx context.Context) (Logout, error) {
	var l Logout
	return l, c.do(ctx, http.MethodPost, PathLogout, &l)
}

func (c *Client) get(ctx context.Context, path string, v any) error {
	return c.do(ctx, http.MethodGet, path, v)
}

func (c *Client) do(ctx context.Context, method, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://agent"+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("agent is not answering (is gatehouse-agent running?): %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		if resp.StatusCode == http.StatusForbidden {
			// The agent refused this caller; its message says whom it
			// serves and who this is.
			return fmt.Errorf("%s", strings.TrimSpace(string(msg)))
		}
		return fmt.Errorf("agent answered %s for %s: %s", resp.Status, path, strings.TrimSpace(string(msg)))
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("agent sent a malformed answer for %s: %w", path, err)
	}
	return nil
}
