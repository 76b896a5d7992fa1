package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

func TestExceptions(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	users(t, s, "alice", "bob")
	enroll(t, s, "d1")
	until := now.Add(72 * time.Hour)

	byUser, err := s.CreateException(ctx, api.Exception{User: "bob", Checks: []string{"firewall", "process:/usr/sbin/sshd"},
		Owner: "it-sec", Reason: "laptop in repair", ExpiresAt: until, CreatedBy: "token:ci"}, now)
	if err != nil {
		t.Fatalf("CreateException(user) = %v", err)
	}
	if byUser.ID == "" || !byUser.CreatedAt.Equal(now) || !byUser.ExpiresAt.Equal(until) || byUser.Device != "" || len(byUser.Checks) != 2 {
		t.Errorf("CreateException(user) = %+v, want an ID, created now, expiring %v, two checks", byUser, until)
	}
	byDevice, err := s.CreateException(ctx, api.Exception{ID: "x-dev", Device: "d1", Checks: []string{"disk_encryption"},
		Owner: "it-sec", Reason: "r", ExpiresAt: until}, now)
	if err != nil || byDevice.ID != "x-dev" || byDevice.User != "" {
		t.Fatalf("CreateException(device) = %+v, %v; want ID x-dev, no user", byDevice, err)
	}
	got, err := s.GetException(ctx, byUser.ID)
	if err != nil || got.Owner != "it-sec" || got.Reason != "laptop in repair" || got.CreatedBy != "token:ci" || got.Checks[1] != "process:/usr/sbin/sshd" {
		t.Errorf("GetException(%q) = %+v, %v; want it as created", byUser.ID, got, err)
	}

	for _, tc := range []struct {
		name    string
		in      api.Exception
		wantErr error
	}{
		{"unknown user", api.Exception{User: "nobody", Checks: []string{"firewall"}, Owner: "o", Reason: "r", ExpiresAt: until}, store.ErrNotFound},
		{"unknown device", api.Exception{Device: "d9", Checks: []string{"firewall"}, Owner: "o", Reason: "r", ExpiresAt: until}, store.ErrNotFound},
		{"taken ID", api.Exception{ID: "x-dev", User: "alice", Checks: []string{"firewall"}, Owner: "o", Reason: "r", ExpiresAt: until}, store.ErrExists},
		{"both", api.Exception{User: "alice", Device: "d1", Checks: []string{"firewall"}, Owner: "o", Reason: "r", ExpiresAt: until}, nil},
		{"neither", api.Exception{Checks: []string{"firewall"}, Owner: "o", Reason: "r", ExpiresAt: until}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.CreateException(ctx, tc.in, now)
			if err == nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("CreateException(%+v) = %v, want %v", tc.in, err, tc.wantErr)
			}
		})
	}
	if list, err := s.ListExceptions(ctx); err != nil || len(list) != 2 {
		t.Fatalf("ListExceptions() = %+v, %v; want the two created (refused ones change nothing)", list, err)
	}

	// They go with the device and the user they name.
	if err := s.DeleteDevice(ctx, "d1"); err != nil {
		t.Fatalf("DeleteDevice(d1) = %v", err)
	}
	if _, err := s.GetException(ctx, "x-dev"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetException(x-dev) after its device went = %v, want ErrNotFound", err)
	}
	if err := s.DeleteUser(ctx, "bob"); err != nil {
		t.Fatalf("DeleteUser(bob) = %v", err)
	}
	if list, err := s.ListExceptions(ctx); err != nil || len(list) != 0 {
		t.Errorf("ListExceptions() after bob went = %+v, %v; want none (a new bob must not inherit it)", list, err)
	}

	kept, err := s.CreateException(ctx, api.Exception{User: "alice", Checks: []string{"firewall"}, Owner: "o", Reason: "r", ExpiresAt: until}, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteException(ctx, kept.ID); err != nil {
		t.Errorf("DeleteException(%q) = %v", kept.ID, err)
	}
	if err := s.DeleteException(ctx, kept.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteException(%q) again = %v, want ErrNotFound", kept.ID, err)
	}
}
