package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// snapshot is everything EnrollDevice may change.
type snapshot struct {
	Tokens  []api.EnrollmentToken
	Devices []api.Device
}

func snap(t *testing.T, s store.Store) snapshot {
	t.Helper()
	toks, err := s.ListEnrollmentTokens(t.Context())
	if err != nil {
		t.Fatalf("ListEnrollmentTokens() = %v", err)
	}
	devs, err := s.ListDevices(t.Context())
	if err != nil {
		t.Fatalf("ListDevices() = %v", err)
	}
	return snapshot{toks, devs}
}

// withTokens makes user alice and, for each id, an enrollment token for her
// with hash "h"+id that expires an hour after now.
func withTokens(t *testing.T, s store.Store, ids ...string) {
	t.Helper()
	if err := s.CreateUser(t.Context(), api.User{Name: "alice"}); err != nil {
		t.Fatalf("CreateUser(%q) = %v", "alice", err)
	}
	for _, id := range ids {
		tok := api.EnrollmentToken{ID: id, User: "alice", ExpiresAt: now.Add(time.Hour)}
		if err := s.CreateEnrollmentToken(t.Context(), tok, "h"+id); err != nil {
			t.Fatalf("CreateEnrollmentToken(%q) = %v", id, err)
		}
	}
}

func TestEnrollDevice(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	withTokens(t, s) // alice only: these tokens need other expiries
	for _, tok := range []struct {
		id, hash string
		expires  time.Time
	}{
		{"t-good", "h-good", now.Add(time.Hour)},
		{"t-spare", "h-spare", now.Add(time.Hour)},
		{"t-old", "h-old", now.Add(-time.Minute)},
		{"t-edge", "h-edge", now}, // expired at exactly now
	} {
		tt := api.EnrollmentToken{ID: tok.id, User: "alice", ExpiresAt: tok.expires, Token: "secret-" + tok.id}
		if err := s.CreateEnrollmentToken(ctx, tt, tok.hash); err != nil {
			t.Fatalf("CreateEnrollmentToken(%q) = %v", tok.id, err)
		}
	}
	if err := s.CreateEnrollmentToken(ctx, api.EnrollmentToken{ID: "t-good", User: "alice"}, "h-other"); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateEnrollmentToken(%q) again = %v, want %v", "t-good", err, store.ErrExists)
	}
	if err := s.CreateEnrollmentToken(ctx, api.EnrollmentToken{ID: "t-x", User: "nobody"}, "h-x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateEnrollmentToken for user %q = %v, want %v", "nobody", err, store.ErrNotFound)
	}

	dev := api.Device{ID: "d1", User: "mallory", Hostname: "laptop", PublicKey: "pk1", Online: true,
		Posture: &api.PostureReport{}}
	stored := api.Device{ID: "d1", User: "alice", Hostname: "laptop", PublicKey: "pk1", EnrolledAt: now}
	tests := []struct {
		name    string
		hash    string
		in      api.Device
		want    api.Device
		wantErr error
	}{
		{name: "good token", hash: "h-good", in: dev, want: stored},
		{name: "used token", hash: "h-good", in: api.Device{ID: "d2"}, wantErr: store.ErrTokenUsed},
		{name: "unknown token", hash: "h-nope", in: api.Device{ID: "d2"}, wantErr: store.ErrTokenUnknown},
		{name: "empty hash", hash: "", in: api.Device{ID: "d2"}, wantErr: store.ErrTokenUnknown},
		{name: "expired token", hash: "h-old", in: api.Device{ID: "d2"}, wantErr: store.ErrTokenExpired},
		{name: "token expiring now", hash: "h-edge", in: api.Device{ID: "d2"}, wantErr: store.ErrTokenExpired},
		{name: "device ID taken", hash: "h-spare", in: api.Device{ID: "d1"}, wantErr: store.ErrExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := snap(t, s)
			got, err := s.EnrollDevice(t.Context(), tt.hash, now, tt.in)
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("EnrollDevice(%q) = %v, want %v", tt.hash, err, tt.wantErr)
			}
			if err != nil {
				if after := snap(t, s); !reflect.DeepEqual(after, before) {
					t.Errorf("EnrollDevice(%q) failed but changed the store:\n%+v\nwant\n%+v", tt.hash, after, before)
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("EnrollDevice(%q) = %+v, want %+v", tt.hash, got, tt.want)
			}
			if got, err := s.GetDevice(t.Context(), tt.want.ID); err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("GetDevice(%q) = %+v, %v, want %+v", tt.want.ID, got, err, tt.want)
			}
		})
	}

	wantTokens := []api.EnrollmentToken{
		{ID: "t-edge", User: "alice", ExpiresAt: now},
		{ID: "t-good", User: "alice", ExpiresAt: now.Add(time.Hour), Used: true},
		{ID: "t-old", User: "alice", ExpiresAt: now.Add(-time.Minute)},
		{ID: "t-spare", User: "alice", ExpiresAt: now.Add(time.Hour)},
	}
	if got := snap(t, s).Tokens; !reflect.DeepEqual(got, wantTokens) {
		t.Errorf("ListEnrollmentTokens() = %+v, want %+v", got, wantTokens)
	}
}

func TestEnrollDeviceConcurrent(t *testing.T) {
	s, _ := newStore(t)
	withTokens(t, s, "t")
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := s.EnrollDevice(t.Context(), "ht", now, api.Device{ID: fmt.Sprint("d", i)})
			errs <- err
		}()
	}
	var ok, used int
	for range n {
		switch err := <-errs; {
		case err == nil:
			ok++
		case errors.Is(err, store.ErrTokenUsed):
			used++
		default:
			t.Errorf("EnrollDevice(%q) = %v, want nil or %v", "ht", err, store.ErrTokenUsed)
		}
	}
	if ok != 1 || used != n-1 {
		t.Errorf("%d concurrent EnrollDevice(%q): %d enrolled, %d used, want 1 and %d", n, "ht", ok, used, n-1)
	}
}

func TestEnrollDeviceDefaults(t *testing.T) {
	s, _ := newStore(t)
	withTokens(t, s, "t")
	local := now.In(time.FixedZone("CET", 3600))
	got, err := s.EnrollDevice(t.Context(), "ht", local, api.Device{Hostname: "srv"})
	if err != nil {
		t.Fatalf("EnrollDevice(%q) = %v", "ht", err)
	}
	if got.ID == "" || !got.EnrolledAt.Equal(now) || got.User != "alice" {
		t.Errorf("EnrollDevice(%q) = %+v, want a random ID, EnrolledAt %v, user alice", "ht", got, now)
	}
}

func TestDeleteUserCascades(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	withTokens(t, s, "t1", "t2")
	if _, err := s.EnrollDevice(ctx, "ht1", now, api.Device{ID: "d1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, "alice"); err != nil {
		t.Fatalf("DeleteUser(%q) = %v", "alice", err)
	}
	if got := snap(t, s); len(got.Tokens)+len(got.Devices) != 0 {
		t.Errorf("after DeleteUser(%q): %+v, want no tokens or devices", "alice", got)
	}
}

func TestDevices(t *testing.T) {
	s, _ := newStore(t)
	withTokens(t, s, "b", "a")
	for _, id := range []string{"b", "a"} {
		if _, err := s.EnrollDevice(t.Context(), "h"+id, now, api.Device{ID: "dev-" + id}); err != nil {
			t.Fatal(err)
		}
	}
	runSteps(t, []step{
		{name: "ListDevices()", run: func(ctx context.Context) (any, error) { return s.ListDevices(ctx) }, want: []api.Device{
			{ID: "dev-a", User: "alice", EnrolledAt: now}, {ID: "dev-b", User: "alice", EnrolledAt: now},
		}},
		{name: `DeleteDevice("dev-a")`, run: func(ctx context.Context) (any, error) { return only(s.DeleteDevice(ctx, "dev-a")) }},
		{name: `DeleteDevice("dev-a") again`, run: func(ctx context.Context) (any, error) { return only(s.DeleteDevice(ctx, "dev-a")) }, wantErr: store.ErrNotFound},
		{name: `GetDevice("dev-a")`, run: func(ctx context.Context) (any, error) { return s.GetDevice(ctx, "dev-a") }, wantErr: store.ErrNotFound},
	})
}

func TestAdminTokenHash(t *testing.T) {
	s, _ := newStore(t)
	get := func(ctx context.Context) (any, error) { return s.AdminTokenHash(ctx) }
	set := func(h string) func(ctx context.Context) (any, error) {
		return func(ctx context.Context) (any, error) { return only(s.SetAdminTokenHash(ctx, h)) }
	}
	runSteps(t, []step{
		{name: "AdminTokenHash() before any", run: get, wantErr: store.ErrNotFound},
		{name: `SetAdminTokenHash("h1")`, run: set("h1")},
		{name: "AdminTokenHash()", run: get, want: "h1"},
		{name: `SetAdminTokenHash("h2")`, run: set("h2")},
		{name: "AdminTokenHash() replaced", run: get, want: "h2"},
	})
}

func TestDeleteEnrollmentToken(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	withTokens(t, s, "t-revoked", "t-kept")
	if err := s.DeleteEnrollmentToken(ctx, "t-revoked"); err != nil {
		t.Fatalf("DeleteEnrollmentToken(%q) = %v, want nil", "t-revoked", err)
	}
	if err := s.DeleteEnrollmentToken(ctx, "t-revoked"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteEnrollmentToken(%q) again = %v, want ErrNotFound", "t-revoked", err)
	}
	if _, err := s.EnrollDevice(ctx, "ht-revoked", now, api.Device{ID: "d1"}); !errors.Is(err, store.ErrTokenUnknown) {
		t.Errorf("EnrollDevice(revoked token) = %v, want ErrTokenUnknown", err)
	}
	if _, err := s.EnrollDevice(ctx, "ht-kept", now, api.Device{ID: "d2"}); err != nil {
		t.Errorf("EnrollDevice(kept token) = %v, want nil", err)
	}
	// Deleting the used token keeps the device it enrolled.
	if err := s.DeleteEnrollmentToken(ctx, "t-kept"); err != nil {
		t.Fatalf("DeleteEnrollmentToken(%q) = %v, want nil", "t-kept", err)
	}
	if got := snap(t, s); len(got.Tokens) != 0 || len(got.Devices) != 1 || got.Devices[0].ID != "d2" {
		t.Errorf("after deleting both tokens: %+v, want no tokens and device d2", got)
	}
}
