package store_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// gatewaySnapshot is everything EnrollGateway may change.
type gatewaySnapshot struct {
	Tokens   []api.GatewayEnrollmentToken
	Gateways []api.Gateway
}

func gatewaySnap(t *testing.T, s store.GatewayStore) gatewaySnapshot {
	t.Helper()
	toks, err := s.ListGatewayTokens(t.Context())
	if err != nil {
		t.Fatalf("ListGatewayTokens() = %v", err)
	}
	gws, err := s.ListGateways(t.Context())
	if err != nil {
		t.Fatalf("ListGateways() = %v", err)
	}
	return gatewaySnapshot{toks, gws}
}

func TestEnrollGateway(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	for _, tok := range []struct {
		id, name, hash string
		expires        time.Time
	}{
		{"g-good", "site-a", "h-good", now.Add(time.Hour)},
		{"g-again", "site-a", "h-again", now.Add(time.Hour)}, // a second token for the same name
		{"g-old", "site-b", "h-old", now.Add(-time.Minute)},
		{"g-edge", "site-b", "h-edge", now},
		{"g-b", "site-b", "h-b", now.Add(time.Hour)},
	} {
		tt := api.GatewayEnrollmentToken{ID: tok.id, Gateway: tok.name, ExpiresAt: tok.expires, Token: "secret", Used: true}
		if err := s.CreateGatewayToken(ctx, tt, tok.hash); err != nil {
			t.Fatalf("CreateGatewayToken(%q) = %v", tok.id, err)
		}
	}
	if err := s.CreateGatewayToken(ctx, api.GatewayEnrollmentToken{ID: "g-good", Gateway: "x"}, "h-other"); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateGatewayToken(%q) again = %v, want %v", "g-good", err, store.ErrExists)
	}
	if err := s.CreateGatewayToken(ctx, api.GatewayEnrollmentToken{ID: "g-x", Gateway: "x"}, ""); err == nil {
		t.Errorf("CreateGatewayToken with an empty hash = nil, want an error")
	}

	in := api.Gateway{ID: "gw1", Name: "mallory-picks", PublicKey: "pk1", State: api.GatewayOnline, Peers: 3}
	stored := api.Gateway{ID: "gw1", Name: "site-a", PublicKey: "pk1", EnrolledAt: now}
	tests := []struct {
		name    string
		hash    string
		in      api.Gateway
		want    api.Gateway
		wantErr error
	}{
		{name: "good token", hash: "h-good", in: in, want: stored},
		{name: "used token", hash: "h-good", in: api.Gateway{ID: "gw2"}, wantErr: store.ErrTokenUsed},
		{name: "unknown token", hash: "h-nope", in: api.Gateway{ID: "gw2"}, wantErr: store.ErrTokenUnknown},
		{name: "device token's hash", hash: "", in: api.Gateway{ID: "gw2"}, wantErr: store.ErrTokenUnknown},
		{name: "expired token", hash: "h-old", in: api.Gateway{ID: "gw2"}, wantErr: store.ErrTokenExpired},
		{name: "token expiring now", hash: "h-edge", in: api.Gateway{ID: "gw2"}, wantErr: store.ErrTokenExpired},
		{name: "name already enrolled", hash: "h-again", in: api.Gateway{ID: "gw2"}, wantErr: store.ErrExists},
		{name: "ID taken", hash: "h-b", in: api.Gateway{ID: "gw1"}, wantErr: store.ErrExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := gatewaySnap(t, s)
			got, err := s.EnrollGateway(t.Context(), tt.hash, now, tt.in)
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("EnrollGateway(%q) = %v, want %v", tt.hash, err, tt.wantErr)
			}
			if err != nil {
				if after := gatewaySnap(t, s); !reflect.DeepEqual(after, before) {
					t.Errorf("EnrollGateway(%q) failed but changed the store:\n%+v\nwant\n%+v", tt.hash, after, before)
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("EnrollGateway(%q) = %+v, want %+v", tt.hash, got, tt.want)
			}
		})
	}

	// A device enrollment token never enrolls a gateway, nor the reverse:
	// they live in separate tables.
	if err := s.CreateUser(ctx, api.User{Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateEnrollmentToken(ctx, api.EnrollmentToken{ID: "d-tok", User: "alice", ExpiresAt: now.Add(time.Hour)}, "h-device"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EnrollGateway(ctx, "h-device", now, api.Gateway{ID: "gw3"}); !errors.Is(err, store.ErrTokenUnknown) {
		t.Errorf("EnrollGateway(device token) = %v, want %v", err, store.ErrTokenUnknown)
	}
	if _, err := s.EnrollDevice(ctx, "h-b", now, api.Device{ID: "d9"}); !errors.Is(err, store.ErrTokenUnknown) {
		t.Errorf("EnrollDevice(gateway token) = %v, want %v", err, store.ErrTokenUnknown)
	}

	seen := now.Add(time.Minute)
	if err := s.TouchGateway(ctx, "gw1", seen, "1.2.3"); err != nil {
		t.Fatalf("TouchGateway = %v", err)
	}
	want := api.Gateway{ID: "gw1", Name: "site-a", PublicKey: "pk1", EnrolledAt: now, LastSeen: seen, Version: "1.2.3"}
	if got, err := s.GetGateway(ctx, "gw1"); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("GetGateway(gw1) = %+v, %v, want %+v", got, err, want)
	}
	if err := s.TouchGateway(ctx, "nope", seen, ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TouchGateway(nope) = %v, want %v", err, store.ErrNotFound)
	}
	if err := s.DeleteGateway(ctx, "site-a"); err != nil {
		t.Fatalf("DeleteGateway(site-a) = %v", err)
	}
	if _, err := s.GetGateway(ctx, "gw1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetGateway after delete = %v, want %v", err, store.ErrNotFound)
	}
	if _, err := s.EnrollGateway(ctx, "h-again", now, api.Gateway{ID: "gw4", PublicKey: "pk4"}); err != nil {
		t.Errorf("EnrollGateway(site-a) after delete = %v, want nil", err)
	}
	wantTokens := []api.GatewayEnrollmentToken{
		{ID: "g-again", Gateway: "site-a", ExpiresAt: now.Add(time.Hour), Used: true},
		{ID: "g-b", Gateway: "site-b", ExpiresAt: now.Add(time.Hour)},
		{ID: "g-edge", Gateway: "site-b", ExpiresAt: now},
		{ID: "g-good", Gateway: "site-a", ExpiresAt: now.Add(time.Hour), Used: true},
		{ID: "g-old", Gateway: "site-b", ExpiresAt: now.Add(-time.Minute)},
	}
	if got := gatewaySnap(t, s).Tokens; !reflect.DeepEqual(got, wantTokens) {
		t.Errorf("ListGatewayTokens() = %+v, want %+v", got, wantTokens)
	}
}
