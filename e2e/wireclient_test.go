package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/tunnel"
)

// wireClient is a hand-made agent session whose messages a background
// reader records, so a test can look at them from any goroutine. It does
// only what the test tells it: it answers no renew, ignores revokes and,
// unless reading, does not even read (nor answer pings).
type wireClient struct {
	t    testing.TB
	dev  rawDevice
	conn *websocket.Conn
	// Welcome is the controller's first message after auth.
	Welcome api.WelcomeMsg

	mu      sync.Mutex // guards msgs, ended and reading
	msgs    []wireMsg
	ended   error // why the read loop stopped; nil while it runs
	reading bool
	arrived chan struct{} // signalled (capacity 1) after each new message
}

// wireMsg is one message from the controller and when it arrived.
type wireMsg struct {
	At  time.Time
	Env api.Envelope
}

// wireOptions shape a wireClient's connection.
type wireOptions struct {
	// NoRead leaves the connection unread after the welcome: no messages
	// are taken from the socket and no ping is answered.
	NoRead bool
	// ReceiveBuffer, when set, is the socket's SO_RCVBUF, so a client that
	// stops reading makes the controller's writes block soon.
	ReceiveBuffer int
	// SendBuffer, when set, is the socket's SO_SNDBUF, so a client that
	// writes faster than the controller reads is held back by TCP rather
	// than queueing seconds of messages (and the pongs behind them).
	SendBuffer int
}

// dialWire connects as d, proves the device key and reads the welcome;
// then, unless opts.NoRead, records every message in the background.
func dialWire(t testing.TB, env *Env, d rawDevice, opts wireOptions) *wireClient {
	t.Helper()
	hc := wireHTTPClient(t, env, opts.ReceiveBuffer, opts.SendBuffer)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, env.Server.URL()+api.AgentWebsocketPath, &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatalf("websocket.Dial(%s) = %v", api.AgentWebsocketPath, err)
	}
	conn.SetReadLimit(api.MaxMessageBytes)
	t.Cleanup(func() { conn.CloseNow() })
	exporter, err := api.AuthExporter(resp.TLS)
	Must(t, err)
	c := &wireClient{t: t, dev: d, conn: conn, arrived: make(chan struct{}, 1)}
	var hello api.HelloMsg
	Must(t, c.readNow(ctx, api.TypeHello).Decode(&hello))
	nonce, err := base64.StdEncoding.DecodeString(hello.Nonce)
	Must(t, err)
	sig := ed25519.Sign(d.Key, api.AuthProof(exporter, d.ID, nonce))
	Must(t, c.Send(api.TypeAuth, api.AuthMsg{DeviceID: d.ID, Signature: base64.StdEncoding.EncodeToString(sig)}))
	Must(t, c.readNow(ctx, api.TypeWelcome).Decode(&c.Welcome))
	if !opts.NoRead {
		c.StartReading()
	}
	return c
}

// wireHTTPClient trusts only the controller's CA and sets each
// connection's receive and send buffers (when not 0) before it connects.
func wireHTTPClient(t testing.TB, env *Env, rcvbuf, sndbuf int) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(env.Server.CAFile())
	Must(t, err)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("CA file %s holds no certificate", env.Server.CAFile())
	}
	d := &net.Dialer{}
	d.Control = func(_, _ string, rc syscall.RawConn) error {
		var errs []error
		errs = append(errs, rc.Control(func(fd uintptr) {
			for opt, size := range map[int]int{syscall.SO_RCVBUF: rcvbuf, syscall.SO_SNDBUF: sndbuf} {
				if size > 0 {
					errs = append(errs, syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, opt, size))
				}
			}
		}))
		return errors.Join(errs...)
	}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// enrollWireDevice enrolls a new device for user with a fresh key.
func enrollWireDevice(t testing.TB, env *Env, user string) rawDevice {
	t.Helper()
	ctx := context.Background()
	tok, err := env.Admin.EnrollmentToken(ctx, user, time.Hour)
	Must(t, err)
	pub, priv, err := ed25519.GenerateKey(nil)
	Must(t, err)
	body, err := json.Marshal(api.EnrollRequest{Token: tok.Token, PublicKey: base64.StdEncoding.EncodeToString(pub), Hostname: "wire-client"})
	Must(t, err)
	resp, err := wireHTTPClient(t, env, 0, 0).Post(env.Server.URL()+api.PathEnroll, "application/json", bytes.NewReader(body))
	Must(t, err)
	defer resp.Body.Close()
	var res api.EnrollResponse
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s = %s, %v; want 200 with a device ID", api.PathEnroll, resp.Status, err)
	}
	return rawDevice{ID: res.DeviceID, Key: priv}
}

// readNow reads the next message, which must be of type typ.
func (c *wireClient) readNow(ctx context.Context, typ string) api.Envelope {
	c.t.Helper()
	_, data, err := c.conn.Read(ctx)
	if err != nil {
		c.t.Fatalf("waiting for %s: %v", typ, err)
	}
	var env api.Envelope
	Must(c.t, json.Unmarshal(data, &env))
	if env.Type != typ {
		c.t.Fatalf("got a %s message (%s), want %s", env.Type, env.Data, typ)
	}
	return env
}

// StartReading records every message from now on, in the background.
func (c *wireClient) StartReading() {
	c.mu.Lock()
	if c.reading {
		c.mu.Unlock()
		return
	}
	c.reading = true
	c.mu.Unlock()
	go func() {
		for {
			_, data, err := c.conn.Read(context.Background())
			c.mu.Lock()
			if err != nil {
				c.ended = err
				c.mu.Unlock()
				return
			}
			var env api.Envelope
			if jerr := json.Unmarshal(data, &env); jerr != nil {
				env = api.Envelope{Type: "unparsable"}
			}
			c.msgs = append(c.msgs, wireMsg{At: time.Now(), Env: env})
			c.mu.Unlock()
			select {
			case c.arrived <- struct{}{}:
			default:
			}
		}
	}()
}

// Send writes one message; safe from any goroutine.
func (c *wireClient) Send(typ string, data any) error {
	env, err := api.NewEnvelope(typ, data)
	if err != nil {
		return err
	}
	b, err := json.Marshal(env)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.conn.Write(ctx, websocket.MessageText, b)
}

// Messages returns what has arrived so far.
func (c *wireClient) Messages() []wireMsg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]wireMsg(nil), c.msgs...)
}

// Ended is why the connection ended, nil while it is up (as far as the
// reader knows).
func (c *wireClient) Ended() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ended
}

// Await waits until find, run over every message so far, returns the
// one wanted.
func (c *wireClient) Await(within time.Duration, what string, find func([]wireMsg) (wireMsg, bool)) wireMsg {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for {
		if m, ok := find(c.Messages()); ok {
			return m
		}
		if err := c.Ended(); err != nil {
			c.t.Fatalf("waiting for %s: the connection ended: %v", what, err)
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("waited %s for %s", within, what)
		}
		select {
		case <-c.arrived:
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// ofType finds the first message of type typ (after from) whose data
// matches.
func ofType[T any](typ string, from time.Time, match func(T) bool) func([]wireMsg) (wireMsg, bool) {
	return func(msgs []wireMsg) (wireMsg, bool) {
		for _, m := range msgs {
			if m.Env.Type != typ || m.At.Before(from) {
				continue
			}
			var v T
			if json.Unmarshal(m.Env.Data, &v) == nil && match(v) {
				return m, true
			}
		}
		return wireMsg{}, false
	}
}

// Ask sends a grant request for app with a fresh key and waits for the
// answer: a grant, or the denial's reasons.
func (c *wireClient) Ask(app string) (api.Grant, []api.Reason) {
	c.t.Helper()
	g, reasons, _ := c.AskTimed(app)
	return g, reasons
}

// AskTimed is Ask, also returning how long the answer took from the
// request's send to its arrival.
func (c *wireClient) AskTimed(app string) (api.Grant, []api.Reason, time.Duration) {
	c.t.Helper()
	key, err := tunnel.NewPrivateKey()
	Must(c.t, err)
	pub := key.Public().String()
	from := time.Now()
	Must(c.t, c.Send(api.TypeGrantRequest, api.GrantRequest{App: app, PublicKey: pub}))
	m := c.Await(5*time.Second, "an answer to the grant request for "+app, func(msgs []wireMsg) (wireMsg, bool) {
		for _, m := range msgs {
			if m.At.Before(from) || m.Env.Type != api.TypeGrant && m.Env.Type != api.TypeDeny {
				continue
			}
			var k struct {
				PublicKey string `json:"public_key"`
			}
			if json.Unmarshal(m.Env.Data, &k) == nil && k.PublicKey == pub {
				return m, true
			}
		}
		return wireMsg{}, false
	})
	took := m.At.Sub(from)
	if m.Env.Type == api.TypeDeny {
		var d api.Denial
		Must(c.t, m.Env.Decode(&d))
		return api.Grant{}, d.Reasons, took
	}
	var g api.Grant
	Must(c.t, m.Env.Decode(&g))
	return g, nil, took
}

// DecisionSets puts the decisions pages received so far back together,
// in order, checking that each frame fit in a message.
func (c *wireClient) DecisionSets() ([]api.DecisionsMsg, error) {
	var pages api.DecisionPages
	var sets []api.DecisionsMsg
	for _, m := range c.Messages() {
		if m.Env.Type != api.TypeDecisions {
			continue
		}
		var d api.DecisionsMsg
		if err := m.Env.Decode(&d); err != nil {
			return nil, err
		}
		set, done, err := pages.Add(d)
		if err != nil {
			return nil, err
		}
		if done {
			sets = append(sets, set)
		}
	}
	return sets, nil
}

// closeOf is the close status and reason of a connection that ended, or
// -1 and the error when it ended otherwise.
func closeOf(err error) (websocket.StatusCode, string) {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code, ce.Reason
	}
	return -1, fmt.Sprint(err)
}

// drainUntilClosed reads (answering pings) until the connection ends and
// returns why.
func (c *wireClient) drainUntilClosed(within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		if _, _, err := c.conn.Read(ctx); err != nil {
			return err
		}
	}
}
