package store_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// TestEnrollSignedIn: a sign-in enrolls a device for its user, pending
// when new devices need approval; an unknown or disabled user, or a
// taken ID, changes nothing.
func TestEnrollSignedIn(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	withTokens(t, s, "t1")
	if err := s.CreateUser(ctx, api.User{Name: "carol"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DisableUser(ctx, "carol", now); err != nil {
		t.Fatal(err)
	}
	got, err := s.EnrollSignedIn(ctx, now, api.Device{ID: "d1", User: "alice", Hostname: "pc", PublicKey: "k"})
	want := api.Device{ID: "d1", User: "alice", Hostname: "pc", PublicKey: "k", EnrolledAt: now}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("EnrollSignedIn(alice) = %+v, %v, want %+v", got, err, want)
	}
	if rec, err := s.DeviceRecord(ctx, "d1"); err != nil || rec.State != store.DeviceApproved || rec.Owner != "alice" {
		t.Errorf("DeviceRecord(d1) = %+v, %v, want alice's, approved", rec, err)
	}
	before := snap(t, s)
	for _, tt := range []struct {
		name    string
		dev     api.Device
		wantErr error
	}{
		{"unknown user", api.Device{ID: "d2", User: "nobody"}, store.ErrNotFound},
		{"disabled user", api.Device{ID: "d2", User: "carol"}, store.ErrUserDisabled},
		{"taken ID", api.Device{ID: "d1", User: "alice"}, store.ErrExists},
	} {
		if _, err := s.EnrollSignedIn(ctx, now, tt.dev); !errors.Is(err, tt.wantErr) {
			t.Errorf("EnrollSignedIn(%s) = %v, want %v", tt.name, err, tt.wantErr)
		}
		if after := snap(t, s); !reflect.DeepEqual(after, before) {
			t.Errorf("EnrollSignedIn(%s) failed but changed the store", tt.name)
		}
	}
	if err := s.SetNewDevicesNeedApproval(ctx, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EnrollSignedIn(ctx, now, api.Device{ID: "d3", User: "alice"}); err != nil {
		t.Fatal(err)
	}
	if rec, err := s.DeviceRecord(ctx, "d3"); err != nil || rec.State != store.DevicePending {
		t.Errorf("DeviceRecord(d3) with approval on = %+v, %v, want pending", rec, err)
	}
}
