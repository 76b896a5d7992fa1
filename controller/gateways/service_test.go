package gateways_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/gateways"
	"github.com/gatehouse-ztna/gatehouse/controller/pki"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
	"github.com/gatehouse-ztna/gatehouse/gateway"
	"github.com/gatehouse-ztna/gatehouse/gateway/link"
)

func TestCreateTokenRefusesBadInput(t *testing.T) {
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := &gateways.Service{Store: st}
	tests := []struct {
		name    string
		in      api.GatewayTokenRequest
		wantErr error
	}{
		{"good", api.GatewayTokenRequest{Name: "site-a"}, nil},
		{"7 days", api.GatewayTokenRequest{Name: "site-a", TTL: api.Duration(gateways.MaxTokenTTL)}, nil},
		{"over 7 days", api.GatewayTokenRequest{Name: "site-a", TTL: api.Duration(gateways.MaxTokenTTL + time.Second)}, gateways.ErrInvalid},
		{"negative ttl", api.GatewayTokenRequest{Name: "site-a", TTL: api.Duration(-time.Second)}, gateways.ErrInvalid},
		{"empty name", api.GatewayTokenRequest{}, gateways.ErrInvalid},
		{"name with a space", api.GatewayTokenRequest{Name: "site a"}, gateways.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := st.ListGatewayTokens(t.Context())
			got, err := svc.CreateToken(t.Context(), tt.in)
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("CreateToken(%+v) = %v, want %v", tt.in, err, tt.wantErr)
			}
			after, _ := st.ListGatewayTokens(t.Context())
			if err != nil && len(after) != len(before) {
				t.Errorf("CreateToken(%+v) failed but stored a token", tt.in)
			}
			if err == nil && !strings.HasPrefix(got.Token, gateways.TokenPrefix) {
				t.Errorf("CreateToken(%+v).Token = %q, want the %s prefix", tt.in, got.Token, gateways.TokenPrefix)
			}
		})
	}
}

// TestEnrollRunListDelete: a token made by the service enrolls a gateway
// through link.Enroll (once only), the enrolled gateway connects and is
// listed online with its version, and deleting it cuts its link and
// refuses its key from then on.
func TestEnrollRunListDelete(t *testing.T) {
	ctx := t.Context()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	events := make(chan string, 8)
	svc := &gateways.Service{Store: st}
	hub, err := gateways.New(gateways.Config{Lookup: svc.Lookup, Seen: svc.Seen, StatusInterval: 50 * time.Millisecond,
		Desired:    func(context.Context, string) ([]api.PeerConfig, error) { return nil, nil },
		Register:   func(name string, _ *gateways.Remote) { events <- "register " + name },
		Unregister: func(name string, _ *gateways.Remote) { events <- "unregister " + name }})
	if err != nil {
		t.Fatal(err)
	}
	svc.Hub = hub

	// The thin handler the controller will mount at GatewayEnrollPath.
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+api.GatewayEnrollPath, func(w http.ResponseWriter, r *http.Request) {
		var req api.GatewayEnrollRequest
		json.NewDecoder(io.LimitReader(r.Body, 4<<10)).Decode(&req)
		resp, err := svc.Enroll(r.Context(), req)
		if err != nil {
			w.WriteHeader(http.StatusForbidden)
			json.NewEncoder(w).Encode(api.ErrorResponse{Error: err.Error()})
			return
		}
		json.NewEncoder(w).Encode(resp)
	})
	mux.Handle(api.GatewayWebsocketPath, serveHub(hub))
	dir := t.TempDir()
	cert, err := pki.LoadOrCreate(dir, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(filepath.Join(dir, pki.CAFile))
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()

	tok, err := svc.CreateToken(ctx, api.GatewayTokenRequest{Name: gatewayName})
	if err != nil {
		t.Fatal(err)
	}
	stateDir := filepath.Join(t.TempDir(), "gw")
	enrolled, err := link.Enroll(ctx, link.EnrollOptions{Controller: srv.URL, Token: tok.Token, CAPEM: caPEM, StateDir: stateDir})
	if err != nil || enrolled.Name != gatewayName {
		t.Fatalf("link.Enroll = %+v, %v, want gateway %s", enrolled, err, gatewayName)
	}
	if _, err := link.Enroll(ctx, link.EnrollOptions{Controller: srv.URL, Token: tok.Token, CAPEM: caPEM, StateDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "already used") {
		t.Errorf("link.Enroll with a spent token = %v, want %q", err, "already used")
	}
	if err := filepath.Walk(stateDir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v, want 0600", p, fi.Mode().Perm())
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}

	state, key, ca, err := link.Load(stateDir)
	if err != nil {
		t.Fatalf("link.Load = %v", err)
	}
	wgKey, err := link.LoadOrCreateWireGuardKey(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := link.LoadOrCreateWireGuardKey(stateDir); again != wgKey {
		t.Errorf("LoadOrCreateWireGuardKey made a new key on the second call, want the kept one")
	}
	gw, err := gateway.New(gateway.Config{PrivateKey: wgKey, PublicHost: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	l, err := link.New(link.Config{Controller: state.Controller, CAPEM: ca, GatewayID: state.GatewayID, Key: key, Version: "test-1", Gateway: gw})
	if err != nil {
		t.Fatal(err)
	}
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); l.Run(lctx) }()
	defer func() { cancel(); <-done }()
	awaitEvent(t, events, "register "+gatewayName)

	// Statuses come every 50 ms; the first is written through to the store.
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if stored, _ := st.GetGateway(ctx, state.GatewayID); !stored.LastSeen.IsZero() || time.Now().After(deadline) {
			break
		}
	}
	gs, err := svc.List(ctx)
	if err != nil || len(gs) != 1 {
		t.Fatalf("List() = %+v, %v, want one gateway", gs, err)
	}
	got := gs[0]
	if got.Name != gatewayName || got.State != api.GatewayOnline || got.Version != "test-1" || got.Endpoint != gw.Endpoint() || got.LastSeen.IsZero() {
		t.Errorf("List()[0] = %+v, want %s online, version test-1, endpoint %s, seen", got, gatewayName, gw.Endpoint())
	}
	if stored, _ := st.GetGateway(ctx, state.GatewayID); stored.Version != "test-1" || stored.LastSeen.IsZero() {
		t.Errorf("stored gateway = %+v, want version and last seen written through", stored)
	}

	if err := svc.Delete(ctx, gatewayName); err != nil {
		t.Fatalf("Delete(%s) = %v", gatewayName, err)
	}
	awaitEvent(t, events, "unregister "+gatewayName)
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, err := l.Connected()
		if err != nil && strings.Contains(err.Error(), "enroll it") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("link error after delete = %v, want its key refused", err)
		}
	}
	select {
	case ev := <-events:
		t.Errorf("hub event %q after delete, want none (the key must open no link)", ev)
	case <-time.After(300 * time.Millisecond):
	}
}

func awaitEvent(t *testing.T, events chan string, want string) {
	t.Helper()
	select {
	case got := <-events:
		if got != want {
			t.Fatalf("hub event = %q, want %q", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no hub event in 5 s, want %q", want)
	}
}
