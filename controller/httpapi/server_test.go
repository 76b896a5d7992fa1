package httpapi

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
	"github.com/gatehouse-ztna/gatehouse/controller"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
)

// fastPasswords are cheap argon2id parameters: what the tests prove does
// not depend on the cost.
var fastPasswords = identity.PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// ownerPassword is the bootstrapped owner's.
const ownerPassword = "correct horse battery staple"

// ownerClient bootstraps the first owner of tc ("owner") with its
// bootstrap token and returns a client holding the owner's API token.
func ownerClient(t *testing.T, tc *testController, ca []byte) *adminclient.Client {
	t.Helper()
	boot, err := adminclient.New(tc.URL(), tc.BootstrapToken(), ca)
	if err != nil {
		t.Fatal(err)
	}
	res, err := boot.Bootstrap(context.Background(), api.BootstrapRequest{User: "owner", Password: ownerPassword})
	if err != nil {
		t.Fatalf("Bootstrap(owner) = %v, want the first owner", err)
	}
	return boot.WithToken(res.Token.Token)
}

// testController is a controller core served by a Server, wired as
// cmd/gatehouse-controller wires them.
type testController struct {
	*Server
	core *controller.Controller
	once sync.Once
}

// BootstrapToken is the admin token the core made at first start.
func (tc *testController) BootstrapToken() string { return tc.core.Auth.BootstrapToken() }

// Close closes the server, then the core; it runs once.
func (tc *testController) Close() error {
	var err error
	tc.once.Do(func() {
		err = tc.Server.Close()
		if cerr := tc.core.Close(); err == nil {
			err = cerr
		}
	})
	return err
}

// start builds a core over dir and a server over it, as
// cmd/gatehouse-controller does (the server's config checked first), and
// serves it until the test ends.
func start(t *testing.T, dir string, cfg Config) (*testController, error) {
	t.Helper()
	cfg.DataDir = dir
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	core, err := controller.New(context.Background(), controller.Config{DataDir: dir, Logger: cfg.Logger,
		Identity: identity.Config{Password: fastPasswords}})
	if err != nil {
		return nil, err
	}
	srv, err := New(core, cfg)
	if err != nil {
		core.Close()
		return nil, err
	}
	tc := &testController{Server: srv, core: core}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	t.Cleanup(func() {
		tc.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve() = %v, want nil after Close", err)
		}
	})
	return tc, nil
}

// mustStart is start, failing the test on an error.
func mustStart(t *testing.T, dir string, cfg Config) *testController {
	t.Helper()
	tc, err := start(t, dir, cfg)
	if err != nil {
		t.Fatalf("start(%q, %+v) = %v, want a controller", dir, cfg, err)
	}
	return tc
}

// TestAgentLinkDefaults: the transport's agent-link timing takes defaults
// when zero and refuses a negative value (the core's own link limits are
// tested in package controller).
func TestAgentLinkDefaults(t *testing.T) {
	tests := []struct {
		name    string
		in      Config
		wantErr string
	}{
		{name: "zero takes defaults", in: Config{}},
		{name: "negative ping interval", in: Config{PingInterval: -time.Second}, wantErr: "ping interval -1s is negative"},
		{name: "negative ping timeout", in: Config{PingTimeout: -time.Second}, wantErr: "ping timeout -1s is negative"},
		{name: "negative write timeout", in: Config{WriteTimeout: -time.Second}, wantErr: "write timeout -1s is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.Listen = "127.0.0.1:0"
			cfg, err := in.withDefaults()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("withDefaults(%+v) = %v, want error containing %q", tt.in, err, tt.wantErr)
			}
			if err == nil && (cfg.PingInterval <= 0 || cfg.PingTimeout <= 0 || cfg.WriteTimeout <= 0) {
				t.Errorf("withDefaults(%+v) left a zero field: %+v", tt.in, cfg)
			}
		})
	}
}
