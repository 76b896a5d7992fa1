package identity

import (
	"errors"
	"testing"
	"time"
)

func TestDeviceApproval(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := t.Context()
	e.user(t, "alice")
	auditor := Principal{Kind: PrincipalToken, Name: "ro", Role: Auditor}
	helpdesk := Principal{Kind: PrincipalUser, Name: "hd", Role: Helpdesk}
	if err := e.SetNewDevicesNeedApproval(ctx, helpdesk, true); !errors.Is(err, ErrForbidden) {
		t.Errorf("SetNewDevicesNeedApproval by helpdesk = %v, want %v", err, ErrForbidden)
	}
	e.device(t, "alice", "old") // enrolled while approval was not needed
	if err := e.SetNewDevicesNeedApproval(ctx, owner, true); err != nil {
		t.Fatal(err)
	}
	e.device(t, "alice", "new")
	if err := e.Admitted(ctx, "old"); err != nil {
		t.Errorf("Admitted(old) = %v, want nil", err)
	}
	if err := e.Admitted(ctx, "new"); !errors.Is(err, ErrDevicePending) {
		t.Errorf("Admitted(new) = %v, want %v", err, ErrDevicePending)
	}
	if err := e.ApproveDevice(ctx, auditor, "new"); !errors.Is(err, ErrForbidden) {
		t.Errorf("ApproveDevice by an auditor = %v, want %v", err, ErrForbidden)
	}
	e.take()
	if err := e.ApproveDevice(ctx, helpdesk, "new"); err != nil {
		t.Fatal(err)
	}
	if evs := e.take(); len(evs) != 1 || evs[0].Kind != DeviceApproved || evs[0].Device != "new" || evs[0].By != "user:hd" || evs[0].Detail != "pending" {
		t.Errorf("events = %+v, want %v of new by user:hd from pending", evs, DeviceApproved)
	}
	if err := e.ApproveDevice(ctx, helpdesk, "new"); err != nil || len(e.take()) != 0 {
		t.Errorf("approving an approved device: %v, or an event", err)
	}
	if err := e.Admitted(ctx, "new"); err != nil {
		t.Errorf("Admitted(new) after approval = %v", err)
	}

	// Blocking ends the device's sessions and refuses new ones.
	_, tok := e.signIn(t, "alice", "", "new")
	_, other := e.signIn(t, "alice", "", "old")
	e.take()
	if err := e.BlockDevice(ctx, helpdesk, "new"); err != nil {
		t.Fatal(err)
	}
	evs := e.take()
	if len(evs) != 2 || evs[0].Kind != DeviceBlocked || evs[1].Kind != SessionRevoked || evs[1].Reason != "device_blocked" {
		t.Errorf("events = %+v, want %v then %v for device_blocked", evs, DeviceBlocked, SessionRevoked)
	}
	if _, err := e.Authenticate(ctx, tok.Access, "new"); !errors.Is(err, ErrSessionRevoked) {
		t.Errorf("Authenticate on a blocked device = %v, want %v", err, ErrSessionRevoked)
	}
	if _, err := e.Authenticate(ctx, other.Access, "old"); err != nil {
		t.Errorf("the other device's session after the block: %v", err)
	}
	p, _ := e.CheckPassword(ctx, Login{User: "alice", Password: pw})
	if _, _, err := e.StartSession(ctx, p, "new"); !errors.Is(err, ErrDeviceBlocked) {
		t.Errorf("StartSession on a blocked device = %v, want %v", err, ErrDeviceBlocked)
	}
	if err := e.Admitted(ctx, "new"); !errors.Is(err, ErrDeviceBlocked) {
		t.Errorf("Admitted(blocked) = %v, want %v", err, ErrDeviceBlocked)
	}
	if err := e.BlockDevice(ctx, owner, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("BlockDevice(nope) = %v, want %v", err, ErrNotFound)
	}

	// Names, tags, last seen.
	if err := e.LabelDevice(ctx, helpdesk, "old", "alice-laptop", []string{"corp"}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	if err := e.SeenDevice(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	d, err := e.Device(ctx, "old")
	if err != nil || d.Name != "alice-laptop" || len(d.Tags) != 1 || d.Owner != "alice" || !d.LastSeen.Equal(e.clock.Now()) || !d.FirstSeen.Equal(start) {
		t.Errorf("Device(old) = %+v, %v", d, err)
	}
	ds, _ := e.Devices(ctx)
	if len(ds) != 2 || ds[0].State != StateBlocked || ds[1].State != StateApproved {
		t.Errorf("Devices() = %+v, want new blocked and old approved", ds)
	}
}
