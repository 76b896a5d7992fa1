package controlclient_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent/controlclient"
	"github.com/gatehouse-ztna/gatehouse/agent/controltest"
	"github.com/gatehouse-ztna/gatehouse/api"
)

// recorder is a Handler that records what it was told.
type recorder struct {
	mu           sync.Mutex // guards the fields below
	connected    int
	disconnected int
	grants       []api.Grant
	signedOut    []api.SignedOutMsg
}

func (r *recorder) Connected(ctx context.Context, first controlclient.Sender, w api.WelcomeMsg) error {
	r.mu.Lock()
	r.connected++
	r.mu.Unlock()
	return first.SendPosture(ctx, api.PostureReport{AgentVersion: "test"})
}
func (r *recorder) Decisions(context.Context, api.DecisionsMsg) {}
func (r *recorder) Grant(_ context.Context, g api.Grant) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.grants = append(r.grants, g)
}
func (r *recorder) Deny(context.Context, api.Denial)                  {}
func (r *recorder) Revoke(context.Context, api.Revocation)            {}
func (r *recorder) Renew(context.Context, api.Renewal)                {}
func (r *recorder) Tokens(context.Context, api.TokensMsg)             {}
func (r *recorder) AccessResult(context.Context, api.AccessResultMsg) {}
func (r *recorder) SignedOut(_ context.Context, m api.SignedOutMsg) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.signedOut = append(r.signedOut, m)
}
func (r *recorder) Disconnected(error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.disconnected++
}

// start runs a client with device key priv against fake until the test
// ends.
func start(t *testing.T, fake *controltest.Controller, priv ed25519.PrivateKey) (*controlclient.Client, *recorder) {
	t.Helper()
	rec := &recorder{}
	c := controlclient.New(controlclient.Config{Controller: fake.URL, DeviceID: "dev-1", DeviceKey: priv,
		HTTPClient: fake.HTTPClient(), Backoff: controlclient.Backoff{Min: 20 * time.Millisecond, Max: 200 * time.Millisecond}}, rec)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return c, rec
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(controltest.Wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, controltest.Wait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func TestClientConnectsSendsAndReconnects(t *testing.T) {
	fake := controltest.New(t)
	pub, priv := newKey(t)
	fake.AddDevice("dev-1", pub)
	c, rec := start(t, fake, priv)
	fake.AwaitConnected(t, 1)
	eventually(t, "client connected", c.Connected)
	var rep api.PostureReport
	if i := fake.Await(t, 0, api.TypePosture, &rep); i != 0 || rep.AgentVersion != "test" {
		t.Errorf("first message = #%d %+v, want the Connected handler's posture report first", i, rep)
	}
	if err := c.Release(context.Background(), api.Release{App: "grafana", PublicKey: "k"}); err != nil {
		t.Fatalf("Release() = %v, want nil while connected", err)
	}
	var rel api.Release
	fake.Await(t, 0, api.TypeRelease, &rel)
	fake.Send(t, api.TypeGrant, api.Grant{App: "grafana"})
	eventually(t, "grant handled", func() bool { rec.mu.Lock(); defer rec.mu.Unlock(); return len(rec.grants) == 1 })

	fake.Drop()
	fake.AwaitConnected(t, 2)
	eventually(t, "reconnected", func() bool { rec.mu.Lock(); defer rec.mu.Unlock(); return rec.connected == 2 })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.connected != 2 || rec.disconnected < 1 {
		t.Errorf("after a drop: Connected %d times, Disconnected %d times, want 2 and at least 1", rec.connected, rec.disconnected)
	}
}

func TestClientRefused(t *testing.T) {
	tests := []struct {
		name    string
		enroll  bool   // whether the fake knows the device's key
		refuse  string // the fake's refusal after a good proof
		wantErr string
	}{
		{name: "key not enrolled", wantErr: `unknown device "dev-1"`},
		{name: "device removed", enroll: true, refuse: "this device was removed by an admin: enroll again", wantErr: "removed by an admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := controltest.New(t)
			pub, priv := newKey(t)
			if tt.enroll {
				fake.AddDevice("dev-1", pub)
			}
			if tt.refuse != "" {
				fake.Refuse(t, tt.refuse)
			}
			c, rec := start(t, fake, priv)
			eventually(t, "a refusal", func() bool { return c.LastError() != "" })
			if err := c.LastError(); !strings.Contains(err, tt.wantErr) || !strings.Contains(err, "controller refused") {
				t.Errorf("LastError() = %q, want the controller's refusal containing %q", err, tt.wantErr)
			}
			if c.Connected() || fake.Connects() != 0 {
				t.Errorf("Connected() = %v with %d welcomes, want false and 0", c.Connected(), fake.Connects())
			}
			err := c.RequestGrant(context.Background(), api.GrantRequest{App: "grafana"})
			if !errors.Is(err, controlclient.ErrNotConnected) {
				t.Errorf("RequestGrant() while refused = %v, want ErrNotConnected", err)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if rec.connected != 0 {
				t.Errorf("Connected called %d times, want 0", rec.connected)
			}
		})
	}
}

// TestClientProofIsTheDevicesKey: a client holding another key than the
// enrolled one is refused.
func TestClientProofIsTheDevicesKey(t *testing.T) {
	fake := controltest.New(t)
	pub, _ := newKey(t)
	_, other := newKey(t)
	fake.AddDevice("dev-1", pub)
	c, _ := start(t, fake, other)
	eventually(t, "a refusal", func() bool { return c.LastError() != "" })
	if err := c.LastError(); !strings.Contains(err, "signature does not match") {
		t.Errorf("LastError() = %q, want a signature mismatch", err)
	}
	if fake.Connects() != 0 {
		t.Errorf("fake welcomed %d connections with the wrong key, want 0", fake.Connects())
	}
}

// TestClientPresentsTheAccessToken: each connection asks for the access
// token it presents; Reconnect dials again at once with the new one.
func TestClientPresentsTheAccessToken(t *testing.T) {
	fake := controltest.New(t)
	pub, priv := newKey(t)
	fake.AddDevice("dev-1", pub)
	var mu sync.Mutex
	token := "gha_first"
	rec := &recorder{}
	c := controlclient.New(controlclient.Config{Controller: fake.URL, DeviceID: "dev-1", DeviceKey: priv,
		HTTPClient: fake.HTTPClient(), Backoff: controlclient.Backoff{Min: 5 * time.Second, Max: 10 * time.Second},
		AccessToken: func() string { mu.Lock(); defer mu.Unlock(); return token }}, rec)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	fake.AwaitConnected(t, 1)
	eventually(t, "client connected", c.Connected)
	mu.Lock()
	token = "gha_second"
	mu.Unlock()
	start := time.Now()
	c.Reconnect()
	fake.AwaitConnected(t, 2)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Reconnect took %v, want at once (not the 5 s backoff)", took)
	}
	if got := fake.Presented(); len(got) != 2 || got[0] != "gha_first" || got[1] != "gha_second" {
		t.Errorf("presented %q, want [gha_first gha_second]", got)
	}
}

// TestClientSessionRefused: a connection refused for its session (a
// session.* code) tells the handler the session is over; another refusal
// does not.
func TestClientSessionRefused(t *testing.T) {
	for _, tt := range []struct {
		code          string
		wantSignedOut bool
	}{{api.CodeSessionExpired, true}, {api.CodeUnauthorized, false}} {
		t.Run(tt.code, func(t *testing.T) {
			fake := controltest.New(t)
			pub, priv := newKey(t)
			fake.AddDevice("dev-1", pub)
			fake.RefuseWithCode(t, tt.code, "refused for the test")
			rec := &recorder{}
			c := controlclient.New(controlclient.Config{Controller: fake.URL, DeviceID: "dev-1", DeviceKey: priv,
				HTTPClient: fake.HTTPClient(), AccessToken: func() string { return "gha_x" }}, rec)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); c.Run(ctx) }()
			t.Cleanup(func() { cancel(); <-done })
			eventually(t, "a refusal", func() bool { return c.LastError() != "" })
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if got := len(rec.signedOut) > 0; got != tt.wantSignedOut {
				t.Errorf("SignedOut called: %v (%+v), want %v", got, rec.signedOut, tt.wantSignedOut)
			}
			if tt.wantSignedOut && rec.signedOut[0].Code != tt.code {
				t.Errorf("SignedOut code = %q, want %q", rec.signedOut[0].Code, tt.code)
			}
		})
	}
}
