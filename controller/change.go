package controller

import (
	"context"
	"fmt"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// ChangeKind is what happened to an object.
type ChangeKind string

// Kinds of change.
const (
	Created  ChangeKind = "created"
	Updated  ChangeKind = "updated"
	Deleted  ChangeKind = "deleted"
	Added    ChangeKind = "added"   // a member to a group
	Removed  ChangeKind = "removed" // a member from a group
	Rotated  ChangeKind = "rotated" // the admin token
	Enrolled ChangeKind = "enrolled"
	Revoked  ChangeKind = "revoked"  // a session, an API token
	Approved ChangeKind = "approved" // a device
	Blocked  ChangeKind = "blocked"  // a device
)

// ObjectKind is the kind of object a change is about.
type ObjectKind string

// Kinds of object.
const (
	ObjectUser            ObjectKind = "user"
	ObjectGroup           ObjectKind = "group"
	ObjectMember          ObjectKind = "member" // Name is "group/user"
	ObjectApp             ObjectKind = "app"
	ObjectPostureProfile  ObjectKind = "posture profile"
	ObjectPolicy          ObjectKind = "policy"
	ObjectEnrollmentToken ObjectKind = "enrollment token"
	ObjectAdminToken      ObjectKind = "admin token"
	ObjectDevice          ObjectKind = "device"
	ObjectGateway         ObjectKind = "gateway"
	ObjectGatewayToken    ObjectKind = "gateway token"
	// ObjectAccount is a user's sign-in state; Name is "user/what"
	// (password, role, disabled, enabled, unlocked, totp).
	ObjectAccount  ObjectKind = "account"
	ObjectSession  ObjectKind = "session" // Name is the session ID, or "user:NAME" for all of a user's
	ObjectAPIToken ObjectKind = "API token"
	ObjectSetting  ObjectKind = "setting"
	// ObjectException is a waiver of posture checks; Name is its ID.
	ObjectException ObjectKind = "exception"
)

// inPolicy reports whether objects of kind k feed the policy snapshot: a
// change to one re-decides every live grant.
func (k ObjectKind) inPolicy() bool {
	switch k {
	case ObjectUser, ObjectGroup, ObjectMember, ObjectApp, ObjectPostureProfile, ObjectPolicy, ObjectException:
		return true
	}
	return false
}

// Change is what a domain operation did, by whom: the core drives
// re-decisions and fan-out from it (commit), and it is what an audit log
// records.
type Change struct {
	Kind   ChangeKind
	Object ObjectKind
	Name   string // the object's name or ID
	// By is who made the change; its String is the principal
	// ("user:alice", "token:ci", "bootstrap:bootstrap").
	By Actor
	// Devices went with the change (a deleted device; a deleted user's
	// devices): their links end and their grants are revoked.
	Devices []string
}

func (ch Change) String() string {
	return fmt.Sprintf("%s %s %s by %s", ch.Object, ch.Name, ch.Kind, ch.By)
}

// commit follows every successful write: devices that went are forgotten
// (their links end, their grants are revoked with reasons), and a change
// to the policy rebuilds the snapshot and re-decides every live grant at
// once.
func (c *Controller) commit(ctx context.Context, ch Change) error {
	// The change is saved: see it through even if the caller goes.
	ctx = context.WithoutCancel(ctx)
	c.log.Info("change", "change", ch.String())
	if len(ch.Devices) > 0 {
		c.forgetDevices(ctx, ch.Devices, forgetReasons[ch.Object])
	}
	if ch.Object == ObjectDevice && ch.Kind == Updated {
		// Its name or tags changed: conditions read device.tags.
		c.redecideIdentity(ctx, ch.Name)
	}
	if !ch.Object.inPolicy() {
		return nil
	}
	if err := c.reload(ctx); err != nil {
		c.policyStale.Store(true) // the renewal loop retries; nothing renews until then
		return fmt.Errorf("change saved, but reloading policy failed (the controller retries and renews no grant until it succeeds): %w", err)
	}
	c.redecideAll(ctx)
	return nil
}

// forgetReasons tell an agent why its device's grants ended, by the kind
// of object whose deletion took the device.
var forgetReasons = map[ObjectKind][]api.Reason{
	ObjectDevice: {{Code: api.CodeDeviceDeleted, Message: "an admin removed this device",
		Remediation: "Enroll the device again with a new enrollment token"}},
	ObjectUser: {{Code: api.CodeUserDeleted, Message: "an admin removed your account",
		Remediation: "Ask an admin to restore your account, then enroll again"}},
}
