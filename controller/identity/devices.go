package identity

import (
	"context"
	"fmt"

	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// Device is what identity keeps about a device (the store's record).
type Device = store.DeviceRecord

// Device approval states (Device.State).
const (
	StatePending  = store.DevicePending
	StateApproved = store.DeviceApproved
	StateBlocked  = store.DeviceBlocked
)

// Device returns device id's record.
func (s *Service) Device(ctx context.Context, id string) (Device, error) {
	return s.store.DeviceRecord(ctx, id)
}

// Devices lists every device's record.
func (s *Service) Devices(ctx context.Context) ([]Device, error) {
	return s.store.ListDeviceRecords(ctx)
}

// Admitted says whether device id may get grants: nil when approved, else
// ErrDevicePending or ErrDeviceBlocked with what its user can do.
func (s *Service) Admitted(ctx context.Context, id string) error {
	d, err := s.store.DeviceRecord(ctx, id)
	if err != nil {
		return fmt.Errorf("device %q: %w", id, err)
	}
	switch d.State {
	case StateApproved:
		return nil
	case StatePending:
		return fmt.Errorf("device %q: %w: ask an admin to approve it (gatehouse admin devices approve %s)", id, ErrDevicePending, id)
	}
	return fmt.Errorf("device %q: %w: ask an admin why", id, ErrDeviceBlocked)
}

// ApproveDevice approves device id (also unblocks it).
func (s *Service) ApproveDevice(ctx context.Context, by Principal, id string) error {
	if err := by.Can(Permission{AreaDevices, Write}); err != nil {
		return err
	}
	before, err := s.store.ApproveDevice(ctx, id)
	if err != nil {
		return fmt.Errorf("approve: %w", err)
	}
	if before != StateApproved {
		s.emit(Event{Kind: DeviceApproved, Device: id, By: by.String(), Detail: before})
	}
	return nil
}

// BlockDevice blocks device id and ends its sessions (DeviceBlocked, then
// SessionRevoked for each): the core cuts its tunnels on DeviceBlocked.
func (s *Service) BlockDevice(ctx context.Context, by Principal, id string) error {
	if err := by.Can(Permission{AreaDevices, Write}); err != nil {
		return err
	}
	before, revoked, err := s.store.BlockDevice(ctx, id, s.clock.Now())
	if err != nil {
		return fmt.Errorf("block: %w", err)
	}
	if before != StateBlocked {
		s.emit(Event{Kind: DeviceBlocked, Device: id, By: by.String(), Detail: before})
	}
	s.emitRevoked(revoked, by.String())
	return nil
}

// LabelDevice sets device id's name and tags.
func (s *Service) LabelDevice(ctx context.Context, by Principal, id, name string, tags []string) error {
	if err := by.Can(Permission{AreaDevices, Write}); err != nil {
		return err
	}
	return s.store.LabelDevice(ctx, id, name, tags)
}

// SeenDevice records that device id was seen now.
func (s *Service) SeenDevice(ctx context.Context, id string) error {
	return s.store.TouchDevice(ctx, id, s.clock.Now())
}

// SetNewDevicesNeedApproval sets whether devices enroll pending.
func (s *Service) SetNewDevicesNeedApproval(ctx context.Context, by Principal, need bool) error {
	if err := by.Can(Permission{AreaSettings, Write}); err != nil {
		return err
	}
	return s.store.SetNewDevicesNeedApproval(ctx, need)
}

// NewDevicesNeedApproval says whether devices enroll pending.
func (s *Service) NewDevicesNeedApproval(ctx context.Context) (bool, error) {
	return s.store.NewDevicesNeedApproval(ctx)
}
