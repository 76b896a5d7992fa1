package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
)

// TestBadInputIsRefusedAndChangesNothing sends the controller broken,
// forged and oversized input on every door it has — the agent websocket,
// enrollment and the admin API — while a real agent keeps using grafana.
// Each piece must get a clear error and a log line, change nothing, and
// leave the agent served through the same tunnel.
func TestBadInputIsRefusedAndChangesNothing(t *testing.T) {
	env := New(t, Options{})
	env.Standard(t)
	alice := env.Agent(t, "alice")
	alice.Decision("grafana", true, 5*time.Second)
	if got, err := alice.Get("grafana", "/"); err != nil || got != "hello from grafana" {
		t.Fatalf("alice.Get(%q, %q) = %q, %v, want %q", "grafana", "/", got, err, "hello from grafana")
	}
	check := &badInputCheck{env: env, alice: alice, peers: gatewayPeerSet(env)}
	if !strings.Contains(check.peers, "app=grafana") {
		t.Fatalf("gateway peers = %q, want alice's grafana tunnel", check.peers)
	}

	t.Run("after auth", func(t *testing.T) {
		oddKey := nonCanonicalKey(t)
		tests := []struct {
			name     string
			frame    []byte
			wantCode string
			wantMsg  string
			logs     []string
		}{
			{name: "malformed JSON", frame: []byte("{not json"), wantCode: "malformed", wantMsg: "message is not valid JSON",
				logs: []string{"malformed message from agent", "invalid character 'n' looking for beginning of object key string"}},
			{name: "unknown message type", frame: wireFrame(t, "teleport", api.Release{App: "grafana"}), wantCode: "bad_request",
				wantMsg: `unknown message type "teleport"`, logs: []string{"rejected message from agent", "type=teleport"}},
			{name: "unsupported protocol version", frame: []byte(`{"v":2,"type":"posture","data":{}}`), wantCode: "bad_request",
				wantMsg: "unsupported protocol version 2", logs: []string{"rejected message from agent", "unsupported protocol version 2"}},
			{name: "grant request with mistyped data", frame: []byte(`{"v":1,"type":"grant_request","data":{"app":42}}`),
				wantCode: "bad_request", wantMsg: "malformed grant_request message",
				logs: []string{"rejected message from agent", "malformed grant_request message"}},
			{name: "grant request reusing another tunnel's key", wantCode: "bad_request", wantMsg: "already belongs to another tunnel",
				logs:  []string{"grant request reuses a live tunnel key"},
				frame: wireFrame(t, api.TypeGrantRequest, api.GrantRequest{App: "wiki", PublicKey: env.Gateway.Peers(context.Background())[0].PublicKey})},
			{name: "grant request with a non-canonical spelling of a key", wantCode: "bad_request", wantMsg: "want 32 bytes of base64",
				logs:  []string{"rejected message from agent", oddKey},
				frame: wireFrame(t, api.TypeGrantRequest, api.GrantRequest{App: "wiki", PublicKey: oddKey})},
			{name: "grant request with a short WireGuard key", wantCode: "bad_request", wantMsg: "want 32 bytes of base64",
				logs:  []string{"rejected message from agent", "c2hvcnQ="},
				frame: wireFrame(t, api.TypeGrantRequest, api.GrantRequest{App: "grafana", PublicKey: base64.StdEncoding.EncodeToString([]byte("short"))})},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c := connectRaw(t, env, enrollRawDevice(t, env))
				check.refused(t, tt.logs, func(t *testing.T) {
					c.send(tt.frame)
					got := c.readError()
					if got.Code != tt.wantCode || !strings.Contains(got.Message, tt.wantMsg) {
						t.Errorf("answer to %q = %+v, want code %q and a message containing %q", tt.frame, got, tt.wantCode, tt.wantMsg)
					}
				})
				// The session survives: a valid report is still answered.
				c.send(wireFrame(t, api.TypePosture, passingPostureReport()))
				c.readUntil(api.TypeDecisions)
			})
		}
	})

	t.Run("oversized frame", func(t *testing.T) {
		c := connectRaw(t, env, enrollRawDevice(t, env))
		// Control: a frame of exactly the limit is read and answered, so
		// the one extra byte below is what closes the connection.
		exact := wireFrame(t, api.TypePosture, passingPostureReport())
		exact = append(exact, bytes.Repeat([]byte(" "), api.MaxMessageBytes-len(exact))...)
		c.send(exact)
		c.readUntil(api.TypeDecisions)
		check.refused(t, []string{"agent sent an oversized message"}, func(t *testing.T) {
			c.send(append(exact, ' '))
			if got := c.closeStatus(); got != websocket.StatusMessageTooBig {
				t.Errorf("close status after a %d-byte frame = %v, want %v", api.MaxMessageBytes+1, got, websocket.StatusMessageTooBig)
			}
		})
	})

	t.Run("auth", func(t *testing.T) {
		tests := []struct {
			name   string
			answer func(t *testing.T, d rawDevice, c *rawClient) []byte // the reply to hello
			want   func(d rawDevice) string                             // in the error and the log
		}{
			{name: "signature over the bare nonce",
				answer: func(t *testing.T, d rawDevice, c *rawClient) []byte {
					return authWireFrame(t, d.ID, ed25519.Sign(d.Key, c.nonce))
				},
				want: func(d rawDevice) string {
					return fmt.Sprintf("device %q: signature does not match its enrolled key", d.ID)
				}},
			{name: "proof over another nonce",
				answer: func(t *testing.T, d rawDevice, c *rawClient) []byte {
					return authWireFrame(t, d.ID, ed25519.Sign(d.Key, api.AuthProof(c.exporter, d.ID, append([]byte("replayed "), c.nonce...))))
				},
				want: func(d rawDevice) string {
					return fmt.Sprintf("device %q: signature does not match its enrolled key", d.ID)
				}},
			{name: "proof relayed from another TLS connection",
				answer: func(t *testing.T, d rawDevice, c *rawClient) []byte {
					// A man in the middle holds the agent's connection and its
					// own to the controller: the agent's proof carries the
					// exporter of the connection it sees, not the relay's.
					agentSide := dialRaw(t, env)
					return authWireFrame(t, d.ID, ed25519.Sign(d.Key, api.AuthProof(agentSide.exporter, d.ID, c.nonce)))
				},
				want: func(d rawDevice) string {
					return fmt.Sprintf("device %q: signature does not match its enrolled key", d.ID)
				}},
			{name: "proof naming another device",
				answer: func(t *testing.T, d rawDevice, c *rawClient) []byte {
					return authWireFrame(t, d.ID, ed25519.Sign(d.Key, api.AuthProof(c.exporter, "dev_other", c.nonce)))
				},
				want: func(d rawDevice) string {
					return fmt.Sprintf("device %q: signature does not match its enrolled key", d.ID)
				}},
			{name: "signature by another key",
				answer: func(t *testing.T, d rawDevice, c *rawClient) []byte {
					_, other, err := ed25519.GenerateKey(nil)
					Must(t, err)
					return authWireFrame(t, d.ID, ed25519.Sign(other, c.proof(d)))
				},
				want: func(d rawDevice) string {
					return fmt.Sprintf("device %q: signature does not match its enrolled key", d.ID)
				}},
			{name: "unknown device",
				answer: func(t *testing.T, d rawDevice, c *rawClient) []byte {
					forged := rawDevice{ID: d.ID + "-forged", Key: d.Key}
					return authWireFrame(t, forged.ID, ed25519.Sign(d.Key, c.proof(forged)))
				},
				want: func(d rawDevice) string { return fmt.Sprintf("unknown device %q", d.ID+"-forged") }},
			{name: "posture before auth",
				answer: func(t *testing.T, _ rawDevice, _ *rawClient) []byte {
					return wireFrame(t, api.TypePosture, passingPostureReport())
				},
				want: func(rawDevice) string { return `expected an auth message first, got "posture"` }},
			{name: "malformed auth",
				answer: func(t *testing.T, _ rawDevice, _ *rawClient) []byte { return []byte("{auth") },
				want:   func(rawDevice) string { return "malformed auth message" }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				d := enrollRawDevice(t, env)
				want := tt.want(d)
				check.refused(t, []string{"agent link refused", want}, func(t *testing.T) {
					c := dialRaw(t, env)
					c.send(tt.answer(t, d, c))
					if got := c.readError(); got.Code != "unauthorized" || !strings.Contains(got.Message, want) {
						t.Errorf("answer to auth = %+v, want code %q and a message containing %q", got, "unauthorized", want)
					}
					if got := c.closeStatus(); got != websocket.StatusPolicyViolation {
						t.Errorf("close status after a refused auth = %v, want %v", got, websocket.StatusPolicyViolation)
					}
				})
			})
		}
	})

	t.Run("enrollment", func(t *testing.T) {
		ctx := context.Background()
		goodKey := func(t *testing.T) string {
			pub, _, err := ed25519.GenerateKey(nil)
			Must(t, err)
			return base64.StdEncoding.EncodeToString(pub)
		}
		tests := []struct {
			name       string
			token      func(t *testing.T) api.EnrollmentToken
			key        string
			wantStatus int
			want       func(tok api.EnrollmentToken) string // in the answer and the log
		}{
			{name: "expired token", wantStatus: http.StatusForbidden,
				token: func(t *testing.T) api.EnrollmentToken {
					tok, err := env.Admin.EnrollmentToken(ctx, "alice", time.Second)
					Must(t, err)
					time.Sleep(time.Until(tok.ExpiresAt) + 200*time.Millisecond)
					return tok
				},
				want: func(tok api.EnrollmentToken) string {
					return fmt.Sprintf("enrollment token expired: token %q expired at", tok.ID)
				}},
			{name: "used token", wantStatus: http.StatusForbidden,
				token: func(t *testing.T) api.EnrollmentToken {
					tok, err := env.Admin.EnrollmentToken(ctx, "alice", time.Hour)
					Must(t, err)
					if status, body := postToController(t, env, api.PathEnroll, "", enrollRequestJSON(t, tok.Token, goodKey(t))); status != http.StatusOK {
						t.Fatalf("first enrollment with %s = %d %s, want 200", tok.ID, status, body)
					}
					return tok
				},
				want: func(tok api.EnrollmentToken) string {
					return fmt.Sprintf("enrollment token already used: token %q", tok.ID)
				}},
			{name: "token that never existed", wantStatus: http.StatusForbidden,
				token: func(*testing.T) api.EnrollmentToken { return api.EnrollmentToken{Token: "ghe_never_issued"} },
				want:  func(api.EnrollmentToken) string { return "enrollment token unknown" }},
			{name: "public key not Ed25519", wantStatus: http.StatusBadRequest, key: "c2hvcnQ=",
				token: func(t *testing.T) api.EnrollmentToken {
					tok, err := env.Admin.EnrollmentToken(ctx, "alice", time.Hour)
					Must(t, err)
					return tok
				},
				want: func(api.EnrollmentToken) string { return "device public key must be a base64 Ed25519 key" }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tok := tt.token(t)
				key := tt.key
				if key == "" {
					key = goodKey(t)
				}
				want := tt.want(tok)
				check.refused(t, []string{"enrollment refused", want}, func(t *testing.T) {
					status, body := postToController(t, env, api.PathEnroll, "", enrollRequestJSON(t, tok.Token, key))
					msg := restErrorText(body)
					if status != tt.wantStatus || !strings.Contains(msg, want) {
						t.Errorf("POST %s = %d %q, want %d and a message containing %q", api.PathEnroll, status, msg, tt.wantStatus, want)
					}
					if next := "ask an admin for a new enrollment token"; status == http.StatusForbidden && !strings.Contains(msg, next) {
						t.Errorf("POST %s = %q, want it to say %q", api.PathEnroll, msg, next)
					}
				})
			})
		}
	})

	t.Run("admin API", func(t *testing.T) {
		admin := env.AdminToken
		tests := []struct {
			name, token, path, body string
			wantStatus              int
			want                    string
			logs                    []string
		}{
			{name: "malformed JSON", token: admin, path: api.PathApps, body: `{"name": "broken",`,
				wantStatus: http.StatusBadRequest, want: "malformed JSON body: unexpected EOF",
				logs: []string{"admin request rejected", "malformed JSON body: unexpected EOF"}},
			{name: "unknown field", token: admin, path: api.PathApps,
				body:       `{"name": "typo", "upstreams": ["127.0.0.1:1"], "upstream": "127.0.0.1:2"}`,
				wantStatus: http.StatusBadRequest, want: `unknown field "upstream"`,
				logs: []string{"admin request rejected", `unknown field "upstream"`}},
			{name: "two JSON values", token: admin, path: api.PathApps,
				body:       `{"name": "twice", "upstreams": ["127.0.0.1:1"]} {}`,
				wantStatus: http.StatusBadRequest, want: "more than one JSON value",
				logs: []string{"admin request rejected", "more than one JSON value"}},
			{name: "upstream without a port", token: admin, path: api.PathApps,
				body:       `{"name": "noport", "upstreams": ["nohostport"]}`,
				wantStatus: http.StatusBadRequest, want: `upstream "nohostport" is not host:port`,
				logs: []string{"admin request rejected", `upstream "nohostport" is not host:port`}},
			{name: "no bearer token", path: api.PathApps, body: `{"name": "sneaky", "upstreams": ["127.0.0.1:1"]}`,
				wantStatus: http.StatusUnauthorized, want: "missing or wrong admin token",
				logs: []string{"admin request refused: bad token"}},
			{name: "wrong bearer token", token: "ghb_guessed", path: api.PathPolicies,
				body:       `{"name": "sneaky", "groups": ["eng"], "apps": ["wiki"]}`,
				wantStatus: http.StatusUnauthorized, want: "missing or wrong admin token",
				logs: []string{"admin request refused: bad token", "path=" + api.PathPolicies}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				check.refused(t, tt.logs, func(t *testing.T) {
					status, body := postToController(t, env, tt.path, tt.token, tt.body)
					if msg := restErrorText(body); status != tt.wantStatus || !strings.Contains(msg, tt.want) {
						t.Errorf("POST %s %s = %d %q, want %d and a message containing %q", tt.path, tt.body, status, msg, tt.wantStatus, tt.want)
					}
				})
			})
		}
	})
}

// badInputCheck holds what every bad-input case is checked against.
type badInputCheck struct {
	env   *Env
	alice *Agent
	peers string // alice's tunnels on the gateway before any bad input
}

// refused runs one piece of bad input and then checks that the controller
// logged every text in logs (at least one of them new, so a line from an
// earlier case cannot pass the check), that nothing changed, and that
// alice is still served through the same tunnel.
func (c *badInputCheck) refused(t *testing.T, logs []string, bad func(t *testing.T)) {
	t.Helper()
	fresh := len(logs) == 0
	for _, s := range logs {
		if !c.env.Logs.Contains(asLogged(s)) {
			fresh = true
		}
	}
	if !fresh {
		t.Fatalf("the log already holds all of %q, so this case could not show that it was logged", logs)
	}
	before := installationState(t, c.env)
	bad(t)
	for _, s := range logs {
		Eventually(t, 2*time.Second, func() error {
			if !c.env.Logs.Contains(asLogged(s)) {
				return fmt.Errorf("Logs.Contains(%q) = false, want true", asLogged(s))
			}
			return nil
		})
	}
	if after := installationState(t, c.env); after != before {
		t.Errorf("bad input changed the controller's state:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if got, err := c.alice.Get("grafana", "/"); err != nil || got != "hello from grafana" {
		t.Errorf("alice.Get(%q, %q) = %q, %v, want %q", "grafana", "/", got, err, "hello from grafana")
	}
	if got := gatewayPeerSet(c.env); got != c.peers {
		t.Errorf("gateway peers = %q, want alice's tunnels unchanged: %q", got, c.peers)
	}
}

// asLogged is s as slog's text handler writes it inside a quoted value, so
// that errors naming things in quotes can be found in the log.
func asLogged(s string) string {
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// installationState describes everything bad input must not change,
// leaving out what moves on its own (lease expiries, online flags,
// posture).
func installationState(t *testing.T, env *Env) string {
	t.Helper()
	ctx := context.Background()
	var lines []string
	add := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
	users, err := adminclient.List[api.User](ctx, env.Admin, api.PathUsers)
	Must(t, err)
	for _, u := range users {
		add("user %+v", u)
	}
	apps, err := adminclient.List[api.App](ctx, env.Admin, api.PathApps)
	Must(t, err)
	for _, a := range apps {
		add("app %+v", a)
	}
	policies, err := adminclient.List[api.Policy](ctx, env.Admin, api.PathPolicies)
	Must(t, err)
	for _, p := range policies {
		add("policy %+v", p)
	}
	devices, err := adminclient.List[api.Device](ctx, env.Admin, api.PathDevices)
	Must(t, err)
	for _, d := range devices {
		add("device %s user=%s hostname=%s key=%s", d.ID, d.User, d.Hostname, d.PublicKey)
	}
	tokens, err := adminclient.List[api.EnrollmentToken](ctx, env.Admin, api.PathEnrollmentTokens)
	Must(t, err)
	for _, tok := range tokens {
		add("enrollment token %s user=%s used=%v", tok.ID, tok.User, tok.Used)
	}
	grants, err := adminclient.List[api.LiveGrant](ctx, env.Admin, api.PathGrants)
	Must(t, err)
	for _, g := range grants {
		add("grant %s app=%s key=%s overlay=%s", g.Device, g.App, g.PublicKey, g.OverlayAddr)
	}
	lines = append(lines, gatewayPeerSet(env))
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// gatewayPeerSet describes the gateway's peers without their lease expiries.
func gatewayPeerSet(env *Env) string {
	var out []string
	for _, p := range env.Gateway.Peers(context.Background()) {
		out = append(out, fmt.Sprintf("peer app=%s key=%s overlay=%s", p.App, p.PublicKey, p.OverlayAddr))
	}
	return strings.Join(out, "; ")
}

// rawDevice is a device enrolled by hand, for a client that speaks the
// wire protocol directly.
type rawDevice struct {
	ID  string
	Key ed25519.PrivateKey
}

// enrollRawDevice enrolls a new device for alice with a fresh key.
func enrollRawDevice(t testing.TB, env *Env) rawDevice {
	t.Helper()
	return enrollRawDeviceFor(t, env, "alice")
}

func enrollRequestJSON(t testing.TB, token, key string) string {
	b, err := json.Marshal(api.EnrollRequest{Token: token, PublicKey: key, Hostname: "raw-client"})
	Must(t, err)
	return string(b)
}

// controllerAt is how a hand-made client reaches a controller: its base
// URL and an HTTP client that trusts only the controller's CA (and, across
// namespaces, dials from where the client lives).
type controllerAt struct {
	url    string
	client *http.Client
}

// controllerAt reaches env's controller from this process.
func (e *Env) controllerAt(t testing.TB) controllerAt {
	t.Helper()
	return controllerAt{url: e.Server.URL(), client: controllerHTTPClient(t, e.Server.CAFile(), nil)}
}

// controllerHTTPClient trusts only the CA in caFile and dials with dial
// (nil: the default dialer).
func controllerHTTPClient(t testing.TB, caFile string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	Must(t, err)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("CA file %s holds no certificate", caFile)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DialContext: dial}}
}

// postToController sends body to urlPath, with a bearer token unless it
// is empty, and returns the status and the answer's body.
func postToController(t testing.TB, env *Env, urlPath, token, body string) (int, []byte) {
	t.Helper()
	return env.controllerAt(t).post(t, urlPath, token, body)
}

// post is postToController for any controller.
func (c controllerAt) post(t testing.TB, urlPath, token, body string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url+urlPath, strings.NewReader(body))
	Must(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.client.Do(req)
	Must(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	Must(t, err)
	return resp.StatusCode, b
}

// restErrorText is the message of a REST error answer, or the whole body if
// it is not one.
func restErrorText(body []byte) string {
	var e api.ErrorResponse
	if json.Unmarshal(body, &e) != nil || e.Error == "" {
		return string(body)
	}
	return e.Error
}

// rawClient speaks the agent wire protocol by hand.
type rawClient struct {
	t        testing.TB
	conn     *websocket.Conn
	nonce    []byte // from the controller's hello
	exporter []byte // this TLS connection's exporter value
}

// proof is what d signs to open this connection's session.
func (c *rawClient) proof(d rawDevice) []byte { return api.AuthProof(c.exporter, d.ID, c.nonce) }

// dialRaw opens an agent websocket and reads the hello, without answering it.
func dialRaw(t testing.TB, env *Env) *rawClient {
	t.Helper()
	return dialRawAt(t, env.controllerAt(t))
}

// dialRawAt is dialRaw for any controller.
func dialRawAt(t testing.TB, ctl controllerAt) *rawClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, ctl.url+api.AgentWebsocketPath, &websocket.DialOptions{HTTPClient: ctl.client})
	if err != nil {
		t.Fatalf("websocket.Dial(%s) = %v", api.AgentWebsocketPath, err)
	}
	conn.SetReadLimit(api.MaxMessageBytes)
	t.Cleanup(func() { conn.CloseNow() })
	exporter, err := api.AuthExporter(resp.TLS)
	if err != nil || len(exporter) != api.AuthExporterLength {
		t.Fatalf("TLS exporter of the agent websocket = %x, %v; want %d bytes", exporter, err, api.AuthExporterLength)
	}
	c := &rawClient{t: t, conn: conn, exporter: exporter}
	var hello api.HelloMsg
	Must(t, c.readUntil(api.TypeHello).Decode(&hello))
	c.nonce, err = base64.StdEncoding.DecodeString(hello.Nonce)
	if err != nil || len(c.nonce) == 0 {
		t.Fatalf("hello nonce %q: %v, want base64 bytes", hello.Nonce, err)
	}
	return c
}

// connectRaw dials and authenticates as d, and reads the welcome and the
// first decisions.
func connectRaw(t testing.TB, env *Env, d rawDevice) *rawClient {
	t.Helper()
	c := dialRaw(t, env)
	c.send(authWireFrame(t, d.ID, ed25519.Sign(d.Key, c.proof(d))))
	c.readUntil(api.TypeWelcome)
	c.readUntil(api.TypeDecisions)
	return c
}

func (c *rawClient) send(b []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("write %d bytes: %v", len(b), err)
	}
}

// readUntil returns the next message of type typ, skipping others; an
// error message while waiting for anything else fails the test.
func (c *rawClient) readUntil(typ string) api.Envelope {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		_, data, err := c.conn.Read(ctx)
		if err != nil {
			c.t.Fatalf("waiting for a %q message: %v", typ, err)
		}
		var env api.Envelope
		if err := json.Unmarshal(data, &env); err != nil {
			c.t.Fatalf("controller sent %q: %v, want an api.Envelope", data, err)
		}
		if env.Type == typ {
			return env
		}
		if env.Type == api.TypeError {
			c.t.Fatalf("waiting for a %q message, got error %s", typ, env.Data)
		}
	}
}

func (c *rawClient) readError() api.ErrorMsg {
	c.t.Helper()
	var e api.ErrorMsg
	Must(c.t, c.readUntil(api.TypeError).Decode(&e))
	return e
}

// closeStatus reads until the controller closes the connection and
// returns the close status (-1 if it did not close it within 5 s).
func (c *rawClient) closeStatus() websocket.StatusCode {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		if _, _, err := c.conn.Read(ctx); err != nil {
			return websocket.CloseStatus(err)
		}
	}
}

func wireFrame(t testing.TB, typ string, data any) []byte {
	t.Helper()
	env, err := api.NewEnvelope(typ, data)
	Must(t, err)
	b, err := json.Marshal(env)
	Must(t, err)
	return b
}

func authWireFrame(t testing.TB, device string, sig []byte) []byte {
	return wireFrame(t, api.TypeAuth, api.AuthMsg{DeviceID: device, Signature: base64.StdEncoding.EncodeToString(sig)})
}

// passingPostureReport is a report under which the "secure" profile passes.
func passingPostureReport() api.PostureReport {
	return api.PostureReport{CollectedAt: time.Now().UTC(), AgentVersion: "raw-client",
		OSFamily: api.KnownString("linux"), DiskEncryption: api.KnownBool(true), Firewall: api.KnownBool(true)}
}

// nonCanonicalKey spells a valid 32-byte key with non-zero padding bits:
// a lax decoder reads the same key, a string comparison sees another.
func nonCanonicalKey(t *testing.T) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	k := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	last := strings.IndexByte(alphabet, k[42])
	odd := k[:42] + string(alphabet[last^1]) + "="
	if b, err := base64.StdEncoding.DecodeString(odd); err != nil || !bytes.Equal(b, bytes.Repeat([]byte{7}, 32)) {
		t.Fatalf("%q does not decode laxly to the same key: %v", odd, err)
	}
	return odd
}
