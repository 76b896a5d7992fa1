package controller

import (
	"context"
	"sync"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// Devices are the enrolled devices with their live state, and the grants
// they hold.
type Devices struct {
	store  store.Store
	writes *sync.Mutex // the controller's adminMu: one admin write at a time
	commit func(context.Context, Change) error
	// live fills devices' Online and Posture from the agent links.
	live func([]api.Device)
	// grants lists the live grants.
	grants func() []api.LiveGrant
	// identity keeps devices' state, names, tags and last seen.
	identity *identity.Service
}

// List returns every enrolled device, whether its agent is online and its
// latest posture.
func (d *Devices) List(ctx context.Context, who Actor) ([]api.Device, error) {
	if err := who.mayRead(identity.AreaDevices); err != nil {
		return nil, err
	}
	devs, err := d.store.ListDevices(ctx)
	if err != nil {
		return nil, err
	}
	d.live(devs)
	recs, err := d.identity.Devices(ctx)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]identity.Device, len(recs))
	for _, r := range recs {
		byID[r.ID] = r
	}
	for i := range devs {
		if r, ok := byID[devs[i].ID]; ok {
			devs[i].State, devs[i].Name, devs[i].Tags, devs[i].LastSeen = r.State, r.Name, r.Tags, r.LastSeen
		}
	}
	return devs, nil
}

// Approve lets device id get grants (also unblocks it).
func (d *Devices) Approve(ctx context.Context, who Actor, id string) (Change, error) {
	return d.write(ctx, who, Change{Kind: Approved, Object: ObjectDevice, Name: id}, func() error {
		return d.identity.ApproveDevice(ctx, who.Principal(), id)
	})
}

// Block refuses device id grants and sign-ins, and ends its sessions.
func (d *Devices) Block(ctx context.Context, who Actor, id string) (Change, error) {
	return d.write(ctx, who, Change{Kind: Blocked, Object: ObjectDevice, Name: id}, func() error {
		return d.identity.BlockDevice(ctx, who.Principal(), id)
	})
}

// Label sets device id's name and tags.
func (d *Devices) Label(ctx context.Context, who Actor, id string, req api.DeviceLabelRequest) (Change, error) {
	if req.Name != "" {
		if err := validName("device", req.Name); err != nil {
			return Change{}, err
		}
	}
	for _, t := range req.Tags {
		if err := validName("tag", t); err != nil {
			return Change{}, err
		}
	}
	return d.write(ctx, who, Change{Kind: Updated, Object: ObjectDevice, Name: id}, func() error {
		return d.identity.LabelDevice(ctx, who.Principal(), id, req.Name, req.Tags)
	})
}

// write runs f for who, if it may write devices, as one admin write, and
// commits the change it made.
func (d *Devices) write(ctx context.Context, who Actor, ch Change, f func() error) (Change, error) {
	if err := who.mayWrite(identity.AreaDevices); err != nil {
		return Change{}, err
	}
	d.writes.Lock()
	defer d.writes.Unlock()
	if err := f(); err != nil {
		return Change{}, identityError(err)
	}
	ch.By = who
	return ch, d.commit(ctx, ch)
}

// Delete forgets device id: its link ends and its grants are revoked.
// ErrNotFound if there is none.
func (d *Devices) Delete(ctx context.Context, who Actor, id string) (Change, error) {
	if err := who.mayWrite(identity.AreaDevices); err != nil {
		return Change{}, err
	}
	d.writes.Lock()
	defer d.writes.Unlock()
	if err := d.store.DeleteDevice(ctx, id); err != nil {
		return Change{}, err
	}
	ch := Change{Kind: Deleted, Object: ObjectDevice, Name: id, By: who, Devices: []string{id}}
	return ch, d.commit(ctx, ch)
}

// Grants returns the grants live right now.
func (d *Devices) Grants(_ context.Context, who Actor) ([]api.LiveGrant, error) {
	if err := who.mayRead(identity.AreaDevices); err != nil {
		return nil, err
	}
	return d.grants(), nil
}
