// Package controltest is an in-memory controller for agent tests, in the
// spirit of Tailscale's testcontrol: it speaks the real wire protocol over
// a real websocket and real TLS on loopback (httptest), checks the device
// proof, bound to the TLS connection, against the keys it was given, and
// lets a test script what the
// controller says (welcome, decisions in pages, grant, deny, renew,
// revoke, dropping the connection) and see what the agent sent. It also
// serves the sign-in (signin.go): the device authorization grant's
// endpoints with codes a test approves, denies or slows down, and one
// session per device whose access token the link checks and whose
// refresh token rotates (a spent one ends the session).
//
// Imported by tests only (agent and its sub-packages); device-side, so
// it never links the real controller.
package controltest

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/wire"
)

// Wait is how long the Await helpers wait before failing the test.
const Wait = 10 * time.Second

// Controller is the fake. Its methods may be called from any goroutine.
type Controller struct {
	// URL is the base URL agents dial (https://127.0.0.1:PORT).
	URL string
	// CAPEM is the certificate agents must trust (PEM).
	CAPEM []byte
	srv   *httptest.Server

	mu       sync.Mutex                   // guards the fields below
	devices  map[string]ed25519.PublicKey // enrolled device keys, by device ID
	welcome  api.WelcomeMsg               // sent after a good proof
	refuse   string                       // why every connection is refused; "" accepts
	refuseAs string                       // the refusal's code
	conn     *wire.Conn                   // the current agent connection, nil between connections
	connDone chan struct{}                // closed when conn ends
	connects int                          // connections that got a welcome
	received []api.Envelope               // every message agents sent after auth, in order
	arrived  chan struct{}                // closed and replaced on each change above
	si       signin                       // sign-in: device codes and sessions (signin.go)
}

// New starts a fake controller on loopback; it stops when the test ends.
func New(t testing.TB) *Controller {
	c := &Controller{devices: map[string]ed25519.PublicKey{}, arrived: make(chan struct{}), si: newSignin(),
		welcome: api.WelcomeMsg{User: "alice", HeartbeatInterval: api.Duration(30 * time.Second), Tunnels: []string{}}}
	mux := http.NewServeMux()
	mux.HandleFunc(api.AgentWebsocketPath, c.serveAgent)
	mux.HandleFunc("POST "+api.PathDeviceAuthorization, c.serveDeviceAuthorization)
	mux.HandleFunc("POST "+api.PathToken, c.serveToken)
	c.srv = httptest.NewTLSServer(mux) // HTTP/1.1 only, as websockets need
	c.URL = c.srv.URL
	c.CAPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.srv.Certificate().Raw})
	t.Cleanup(func() {
		c.Drop()
		c.srv.Close()
	})
	return c
}

// AddDevice enrolls a device key.
func (c *Controller) AddDevice(id string, pub ed25519.PublicKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.devices[id] = pub
}

// SetWelcome sets what the next connections are welcomed with.
func (c *Controller) SetWelcome(w api.WelcomeMsg) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.welcome = w
}

// Refuse makes every connection from now on end with an error message
// after the proof, as a controller that deleted the device does; message
// must say why.
func (c *Controller) Refuse(t testing.TB, message string) {
	if message == "" {
		t.Fatal("controltest: Refuse needs a message saying why")
	}
	c.RefuseWithCode(t, api.CodeUnauthorized, message)
}

// RefuseWithCode is Refuse with the error message's code (a session.*
// code: the controller refusing the session the connection presented).
func (c *Controller) RefuseWithCode(t testing.TB, code, message string) {
	if message == "" || code == "" {
		t.Fatal("controltest: RefuseWithCode needs a code and a message saying why")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refuse, c.refuseAs = message, code
}

// Accept undoes Refuse.
func (c *Controller) Accept() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refuse = ""
}

// changedLocked wakes the Await helpers.
func (c *Controller) changedLocked() {
	close(c.arrived)
	c.arrived = make(chan struct{})
}

func (c *Controller) serveAgent(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	conn := wire.NewConn(ws, "agent")
	defer conn.CloseNow()
	ctx := r.Context()
	exporter, err := api.AuthExporter(r.TLS)
	if err != nil {
		conn.Write(ctx, api.TypeError, api.ErrorMsg{Code: "unauthorized", Message: err.Error()})
		return
	}
	hello, nonce, err := wire.NewHello()
	if err != nil || conn.Write(ctx, api.TypeHello, hello) != nil {
		return
	}
	var auth api.AuthMsg
	if err := conn.ReadOne(ctx, api.TypeAuth, &auth, wire.ReadOneTimeout); err != nil {
		return
	}
	c.mu.Lock()
	pub, known := c.devices[auth.DeviceID]
	refuse, refuseAs, welcome := c.refuse, c.refuseAs, c.welcome
	if known {
		welcome.Session = c.sessionAtAuthLocked(auth.DeviceID, auth.AccessToken)
	}
	c.changedLocked()
	c.mu.Unlock()
	var why string
	code := api.CodeUnauthorized
	switch {
	case !known:
		why = fmt.Sprintf("unknown device %q: enroll again", auth.DeviceID)
	case wire.VerifyProof(base64.StdEncoding.EncodeToString(pub), exporter, nonce, auth) != nil:
		why = fmt.Sprintf("device %q: signature does not match its enrolled key", auth.DeviceID)
	case refuse != "":
		why, code = refuse, refuseAs
	}
	if why != "" {
		conn.Write(ctx, api.TypeError, api.ErrorMsg{Code: code, Message: why})
		conn.Close(websocket.StatusPolicyViolation, why)
		return
	}
	if err := conn.Write(ctx, api.TypeWelcome, welcome); err != nil {
		return
	}
	done := make(chan struct{})
	c.mu.Lock()
	old, oldDone := c.conn, c.connDone
	c.conn, c.connDone = conn, done
	c.connects++
	c.changedLocked()
	c.mu.Unlock()
	if old != nil {
		old.CloseNow()
		<-oldDone
	}
	defer func() {
		c.mu.Lock()
		if c.conn == conn {
			c.conn, c.connDone = nil, nil
		}
		c.changedLocked()
		c.mu.Unlock()
		close(done)
	}()
	for {
		env, err := conn.Read(ctx)
		if errors.Is(err, wire.ErrMalformed) {
			continue
		}
		if err != nil {
			return
		}
		c.mu.Lock()
		c.received = append(c.received, env)
		c.changedLocked()
		c.mu.Unlock()
		if env.Type == api.TypeRefresh || env.Type == api.TypeLogout {
			c.handleSessionMsg(ctx, conn, auth.DeviceID, env)
		}
	}
}

// HTTPClient trusts the fake's certificate and has no overall timeout,
// as a control client needs.
func (c *Controller) HTTPClient() *http.Client {
	hc := c.srv.Client()
	hc.Timeout = 0
	return hc
}

// Connects counts the connections welcomed so far.
func (c *Controller) Connects() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connects
}

// Drop ends the current connection, as a controller that went away
// does; the agent reconnects.
func (c *Controller) Drop() {
	c.mu.Lock()
	conn, done := c.conn, c.connDone
	c.mu.Unlock()
	if conn != nil {
		conn.CloseNow()
		<-done
	}
}

// await waits until cond holds, failing the test after Wait.
func (c *Controller) await(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(Wait)
	for {
		c.mu.Lock()
		ok, arrived := cond(), c.arrived
		c.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-arrived:
		case <-deadline:
			t.Fatalf("controltest: %s: nothing within %s", what, Wait)
		}
	}
}

// AwaitConnected waits until the agent holds its n-th connection.
func (c *Controller) AwaitConnected(t testing.TB, n int) {
	t.Helper()
	c.await(t, fmt.Sprintf("waiting for connection #%d", n), func() bool { return c.connects >= n && c.conn != nil })
}

// AwaitDisconnected waits until no agent is connected.
func (c *Controller) AwaitDisconnected(t testing.TB) {
	t.Helper()
	c.await(t, "waiting for the agent to disconnect", func() bool { return c.conn == nil })
}

// Received is every message the agent sent after its proof, in order.
func (c *Controller) Received() []api.Envelope {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]api.Envelope(nil), c.received...)
}

// Await waits for the first message of type typ the agent sent after the
// first after messages, decodes it into v, and returns its index.
func (c *Controller) Await(t testing.TB, after int, typ string, v any) int {
	t.Helper()
	found := -1
	c.await(t, "waiting for "+typ+" from the agent", func() bool {
		for i := after; i < len(c.received); i++ {
			if c.received[i].Type == typ {
				found = i
				return true
			}
		}
		return false
	})
	c.mu.Lock()
	env := c.received[found]
	c.mu.Unlock()
	if err := env.Decode(v); err != nil {
		t.Fatalf("controltest: %s from the agent: %v", typ, err)
	}
	return found
}

// Send sends one message on the current connection.
func (c *Controller) Send(t testing.TB, typ string, data any) {
	t.Helper()
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn == nil {
		t.Fatalf("controltest: send %s: no agent connected", typ)
	}
	if err := conn.Write(context.Background(), typ, data); err != nil {
		t.Fatalf("controltest: send %s: %v", typ, err)
	}
}

// SendDecisions sends m cut into pages of at most pageBytes each
// (api.MaxMessageBytes for what a real controller does).
func (c *Controller) SendDecisions(t testing.TB, m api.DecisionsMsg, pageBytes int) (pages int) {
	t.Helper()
	ps, tooBig := api.SplitDecisions(m, pageBytes)
	if len(tooBig) > 0 {
		t.Fatalf("controltest: decisions do not fit in %d-byte pages: %v", pageBytes, tooBig)
	}
	for _, p := range ps {
		c.Send(t, api.TypeDecisions, p)
	}
	return len(ps)
}
