package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

const newDevicesNeedApprovalKey = "new_devices_need_approval"

// deviceRecords reads the devices table as identity sees it.
var deviceRecords = newTable("device", "devices",
	[]string{"id", "user_name", "name", "hostname", "tags", "state", "enrolled_at", "last_seen", "interactive"},
	func(d *DeviceRecord) []any {
		return []any{&d.ID, &d.Owner, &d.Name, &d.Hostname, listCol{&d.Tags}, &d.State, timeCol{&d.FirstSeen}, optTimeCol{&d.LastSeen},
			&d.Interactive}
	})

// DeviceRecord implements IdentityStore.
func (s *SQLite) DeviceRecord(ctx context.Context, id string) (DeviceRecord, error) {
	return deviceRecords.get(ctx, s.db, id)
}

// ListDeviceRecords implements IdentityStore.
func (s *SQLite) ListDeviceRecords(ctx context.Context) ([]DeviceRecord, error) {
	return deviceRecords.list(ctx, s.db)
}

// ApproveDevice implements IdentityStore.
func (s *SQLite) ApproveDevice(ctx context.Context, id string) (string, error) {
	var before string
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		var err error
		before, err = setDeviceState(ctx, tx, id, DeviceApproved)
		return err
	})
	return before, err
}

// BlockDevice implements IdentityStore.
func (s *SQLite) BlockDevice(ctx context.Context, id string, now time.Time) (string, []Session, error) {
	var (
		before  string
		revoked []Session
	)
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		var err error
		if before, err = setDeviceState(ctx, tx, id, DeviceBlocked); err != nil {
			return err
		}
		revoked, err = revokeWhere(ctx, tx, "device_id = ?", id, now, ReasonDeviceBlocked)
		return err
	})
	return before, revoked, err
}

// setDeviceState sets device id's state and returns the one before.
func setDeviceState(ctx context.Context, tx *sql.Tx, id, state string) (string, error) {
	d, err := deviceRecords.get(ctx, tx, id)
	if err != nil {
		return "", err
	}
	res, err := tx.ExecContext(ctx, "UPDATE devices SET state = ? WHERE id = ?", state, id)
	return d.State, deviceRecords.affected(res, err, "update", id, ErrNotFound)
}

// LabelDevice implements IdentityStore.
func (s *SQLite) LabelDevice(ctx context.Context, id, name string, tags []string) error {
	res, err := s.db.ExecContext(ctx, "UPDATE devices SET name = ?, tags = ? WHERE id = ?", name, listCol{&tags}, id)
	return deviceRecords.affected(res, err, "update", id, ErrNotFound)
}

// SetDeviceInteractive implements IdentityStore.
func (s *SQLite) SetDeviceInteractive(ctx context.Context, id string) (bool, error) {
	// Every link that presents a session calls this, and the device is
	// nearly always marked already (the session's creation marked it): a
	// read answers that without taking SQLite's write lock.
	var interactive bool
	if err := s.db.QueryRowContext(ctx, "SELECT interactive FROM devices WHERE id = ?", id).Scan(&interactive); err == nil && interactive {
		return false, nil
	}
	res, err := s.db.ExecContext(ctx, "UPDATE devices SET interactive = 1 WHERE id = ? AND interactive = 0", id)
	if err != nil {
		return false, fmt.Errorf("mark device %q interactive: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil || n == 1 {
		return n == 1, err
	}
	if _, err := deviceRecords.get(ctx, s.db, id); err != nil {
		return false, err
	}
	return false, nil
}

// TouchDevice implements IdentityStore.
func (s *SQLite) TouchDevice(ctx context.Context, id string, at time.Time) error {
	res, err := s.db.ExecContext(ctx, "UPDATE devices SET last_seen = ? WHERE id = ?", timeCol{&at}, id)
	return deviceRecords.affected(res, err, "update", id, ErrNotFound)
}

// NewDevicesNeedApproval implements IdentityStore.
func (s *SQLite) NewDevicesNeedApproval(ctx context.Context) (bool, error) {
	return settingSet(ctx, s.db, newDevicesNeedApprovalKey)
}

// SetNewDevicesNeedApproval implements IdentityStore.
func (s *SQLite) SetNewDevicesNeedApproval(ctx context.Context, need bool) error {
	query := "DELETE FROM settings WHERE key = ?"
	if need {
		query = "INSERT INTO settings (key, value) VALUES (?, '1') ON CONFLICT DO NOTHING"
	}
	if _, err := s.db.ExecContext(ctx, query, newDevicesNeedApprovalKey); err != nil {
		return fmt.Errorf("set %s: %w", newDevicesNeedApprovalKey, err)
	}
	return nil
}

// initialDeviceState is the state EnrollDevice gives a new device.
func initialDeviceState(ctx context.Context, q querier) (string, error) {
	need, err := settingSet(ctx, q, newDevicesNeedApprovalKey)
	if need {
		return DevicePending, err
	}
	return DeviceApproved, err
}
