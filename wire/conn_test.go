package wire_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/wire"
)

// pair connects a client Conn to a server Conn over a real websocket on
// loopback; both are closed when the test ends.
func pair(t *testing.T) (client, server *wire.Conn) {
	t.Helper()
	accepted := make(chan *wire.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		c := wire.NewConn(ws, "agent")
		accepted <- c
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	client = wire.NewConn(ws, "controller")
	server = <-accepted
	t.Cleanup(func() { client.CloseNow(); server.CloseNow() })
	return client, server
}

func TestWriteRead(t *testing.T) {
	c, s := pair(t)
	ctx := context.Background()
	want := api.Release{App: "grafana", PublicKey: "k"}
	if err := c.Write(ctx, api.TypeRelease, want); err != nil {
		t.Fatalf("Write(%q) = %v, want nil", api.TypeRelease, err)
	}
	env, err := s.Read(ctx)
	if err != nil {
		t.Fatalf("Read() = %v, want nil", err)
	}
	var got api.Release
	if err := env.Decode(&got); err != nil || env.Type != api.TypeRelease || got != want {
		t.Errorf("Read() = %s %+v (%v), want %s %+v", env.Type, got, err, api.TypeRelease, want)
	}
}

// TestReadLimit: a message up to api.MaxMessageBytes arrives (above the
// websocket library's 32 KiB default), a larger one ends the connection.
func TestReadLimit(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		wantErr bool
	}{
		{name: "48 KiB arrives", size: 48 << 10},
		{name: "just under the limit arrives", size: api.MaxMessageBytes - 100},
		{name: "over the limit ends the connection", size: api.MaxMessageBytes + 1, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s := pair(t)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			env := api.Envelope{V: api.Version, Type: api.TypeError}
			env.Data = []byte(`"` + strings.Repeat("x", tt.size-len(`{"v":1,"type":"error","data":""}`)) + `"`)
			go c.WriteEnvelope(ctx, env, wire.WriteTimeout)
			_, err := s.Read(ctx)
			if tt.wantErr != (err != nil) {
				t.Errorf("Read(%d bytes) = %v, want error %v", tt.size, err, tt.wantErr)
			}
			if tt.wantErr && !errors.Is(err, websocket.ErrMessageTooBig) {
				t.Errorf("Read(%d bytes) = %v, want websocket.ErrMessageTooBig", tt.size, err)
			}
		})
	}
}

func TestReadMalformedLeavesConnUsable(t *testing.T) {
	c, s := pair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.WriteEnvelope(ctx, api.Envelope{V: 1, Type: "x", Data: []byte(`{`)}, time.Second); err == nil {
		t.Fatal("WriteEnvelope(invalid raw JSON) = nil, want an encode error")
	}
	// Bypass the envelope: a frame that is not JSON at all.
	raw := rawWriter(t, c)
	raw("not json")
	if _, err := s.Read(ctx); !errors.Is(err, wire.ErrMalformed) {
		t.Fatalf("Read(not json) = %v, want ErrMalformed", err)
	}
	c.Write(ctx, api.TypeRelease, api.Release{App: "a"})
	if env, err := s.Read(ctx); err != nil || env.Type != api.TypeRelease {
		t.Errorf("Read() after a malformed message = %q, %v, want %q", env.Type, err, api.TypeRelease)
	}
}

// rawWriter sends text frames that need not be envelopes.
func rawWriter(t *testing.T, c *wire.Conn) func(string) {
	return func(s string) {
		t.Helper()
		if err := wire.WriteRaw(context.Background(), c, []byte(s)); err != nil {
			t.Fatalf("write raw: %v", err)
		}
	}
}

func TestReadOne(t *testing.T) {
	tests := []struct {
		name    string
		send    func(ctx context.Context, c *wire.Conn)
		wantErr string // "" for success
		refused bool
	}{
		{name: "the wanted type", send: func(ctx context.Context, c *wire.Conn) {
			c.Write(ctx, api.TypeHello, api.HelloMsg{Nonce: "bm9uY2U="})
		}},
		{name: "the peer's error", send: func(ctx context.Context, c *wire.Conn) {
			c.Write(ctx, api.TypeError, api.ErrorMsg{Code: "unauthorized", Message: "enroll again"})
		}, wantErr: "enroll again", refused: true},
		{name: "another type", send: func(ctx context.Context, c *wire.Conn) {
			c.Write(ctx, api.TypeWelcome, api.WelcomeMsg{})
		}, wantErr: `expected hello from the controller, got "welcome"`},
		{name: "another version", send: func(ctx context.Context, c *wire.Conn) {
			c.WriteEnvelope(ctx, api.Envelope{V: 2, Type: api.TypeHello, Data: []byte(`{}`)}, time.Second)
		}, wantErr: "unsupported protocol version 2"},
		{name: "nothing within the timeout", send: func(context.Context, *wire.Conn) {}, wantErr: "waiting for hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s := pair(t)
			ctx := context.Background()
			tt.send(ctx, s)
			var hello api.HelloMsg
			err := c.ReadOne(ctx, api.TypeHello, &hello, 300*time.Millisecond)
			if tt.wantErr == "" {
				if err != nil || hello.Nonce != "bm9uY2U=" {
					t.Errorf("ReadOne(%q) = %+v, %v, want the hello", api.TypeHello, hello, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ReadOne(%q) = %v, want an error containing %q", api.TypeHello, err, tt.wantErr)
			}
			var refused *wire.RefusedError
			if errors.As(err, &refused) != tt.refused {
				t.Errorf("ReadOne(%q) = %v, want a *RefusedError: %v", api.TypeHello, err, tt.refused)
			}
		})
	}
}

func TestProof(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	enrolled := base64.StdEncoding.EncodeToString(pub)
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	hello, nonce, err := wire.NewHello()
	if err != nil {
		t.Fatal(err)
	}
	exporter := []byte("exporter of this TLS connection.")
	auth, err := wire.SignProof(key, exporter, "dev-1", hello)
	if err != nil {
		t.Fatalf("SignProof() = %v", err)
	}
	_, otherNonce, _ := wire.NewHello()
	tests := []struct {
		name     string
		enrolled string
		exporter []byte
		nonce    []byte
		auth     api.AuthMsg
		wantErr  error
	}{
		{name: "good", enrolled: enrolled, exporter: exporter, nonce: nonce, auth: auth},
		{name: "another nonce", enrolled: enrolled, exporter: exporter, nonce: otherNonce, auth: auth, wantErr: wire.ErrBadProof},
		{name: "relayed onto another TLS connection", enrolled: enrolled, exporter: []byte("another connection's exporter.."), nonce: nonce, auth: auth, wantErr: wire.ErrBadProof},
		{name: "plain HTTP instead of TLS", enrolled: enrolled, exporter: nil, nonce: nonce, auth: auth, wantErr: wire.ErrBadProof},
		{name: "claims another device", enrolled: enrolled, exporter: exporter, nonce: nonce, auth: api.AuthMsg{DeviceID: "dev-2", Signature: auth.Signature}, wantErr: wire.ErrBadProof},
		{name: "another device's key", enrolled: base64.StdEncoding.EncodeToString(otherPub), exporter: exporter, nonce: nonce, auth: auth, wantErr: wire.ErrBadProof},
		{name: "signature not base64", enrolled: enrolled, exporter: exporter, nonce: nonce, auth: api.AuthMsg{DeviceID: "dev-1", Signature: "!"}, wantErr: wire.ErrBadProof},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := wire.VerifyProof(tt.enrolled, tt.exporter, tt.nonce, tt.auth)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("VerifyProof(%q) = %v, want %v", tt.name, err, tt.wantErr)
			}
		})
	}
	if _, err := wire.SignProof(key, exporter, "dev-1", api.HelloMsg{Nonce: "!"}); err == nil || !strings.Contains(err.Error(), "malformed nonce") {
		t.Errorf("SignProof(nonce %q) = %v, want a malformed-nonce error", "!", err)
	}
	if err := wire.VerifyProof("short", exporter, nonce, auth); err == nil || !strings.Contains(err.Error(), "enroll it again") {
		t.Errorf("VerifyProof(corrupt enrolled key) = %v, want an error that says to enroll again", err)
	}
}

// TestGatewayProof: a gateway's proof verifies only as a gateway's, with
// its own key, over this connection and this nonce; a device's proof by
// the same key (another context) does not.
func TestGatewayProof(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	hello, nonce, err := wire.NewHello()
	if err != nil {
		t.Fatal(err)
	}
	exporter := []byte("exporter of this TLS connection.")
	auth, err := wire.SignGatewayProof(key, exporter, "gw-1", hello)
	if err != nil {
		t.Fatalf("SignGatewayProof() = %v", err)
	}
	device, err := wire.SignProof(key, exporter, "gw-1", hello)
	if err != nil {
		t.Fatalf("SignProof() = %v", err)
	}
	_, otherNonce, _ := wire.NewHello()
	tests := []struct {
		name     string
		enrolled ed25519.PublicKey
		exporter []byte
		nonce    []byte
		auth     api.GatewayAuthMsg
		wantErr  error
	}{
		{name: "good", enrolled: pub, exporter: exporter, nonce: nonce, auth: auth},
		{name: "a device's proof by the same key", enrolled: pub, exporter: exporter, nonce: nonce,
			auth: api.GatewayAuthMsg{GatewayID: "gw-1", Signature: device.Signature}, wantErr: wire.ErrBadProof},
		{name: "another nonce", enrolled: pub, exporter: exporter, nonce: otherNonce, auth: auth, wantErr: wire.ErrBadProof},
		{name: "relayed onto another TLS connection", enrolled: pub, exporter: []byte("another connection's exporter.."), nonce: nonce, auth: auth, wantErr: wire.ErrBadProof},
		{name: "claims another gateway", enrolled: pub, exporter: exporter, nonce: nonce, auth: api.GatewayAuthMsg{GatewayID: "gw-2", Signature: auth.Signature}, wantErr: wire.ErrBadProof},
		{name: "another gateway's key", enrolled: otherPub, exporter: exporter, nonce: nonce, auth: auth, wantErr: wire.ErrBadProof},
		{name: "signature not base64", enrolled: pub, exporter: exporter, nonce: nonce, auth: api.GatewayAuthMsg{GatewayID: "gw-1", Signature: "!"}, wantErr: wire.ErrBadProof},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := wire.VerifyGatewayProof(tt.enrolled, tt.exporter, tt.nonce, tt.auth)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("VerifyGatewayProof(%q) = %v, want %v", tt.name, err, tt.wantErr)
			}
		})
	}
	// The other way round: a gateway's proof is no device's.
	if err := wire.VerifyProof(base64.StdEncoding.EncodeToString(pub), exporter, nonce, api.AuthMsg{DeviceID: "gw-1", Signature: auth.Signature}); !errors.Is(err, wire.ErrBadProof) {
		t.Errorf("VerifyProof(a gateway's proof) = %v, want %v", err, wire.ErrBadProof)
	}
	if _, err := wire.SignGatewayProof(key, exporter, "gw-1", api.HelloMsg{Nonce: "!"}); err == nil || !strings.Contains(err.Error(), "malformed nonce") {
		t.Errorf("SignGatewayProof(nonce %q) = %v, want a malformed-nonce error", "!", err)
	}
	if err := wire.VerifyGatewayProof(pub[:5], exporter, nonce, auth); err == nil || !strings.Contains(err.Error(), "enroll it again") {
		t.Errorf("VerifyGatewayProof(corrupt enrolled key) = %v, want an error that says to enroll again", err)
	}
}
