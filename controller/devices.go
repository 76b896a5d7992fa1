package controller

import (
	"context"
	"sync"

	"github.com/gatehouse-ztna/gatehouse/api"
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
}

// List returns every enrolled device, whether its agent is online and its
// latest posture.
func (d *Devices) List(ctx context.Context, who Actor) ([]api.Device, error) {
	if err := who.mayAdminister(); err != nil {
		return nil, err
	}
	devs, err := d.store.ListDevices(ctx)
	if err != nil {
		return nil, err
	}
	d.live(devs)
	return devs, nil
}

// Delete forgets device id: its link ends and its grants are revoked.
// ErrNotFound if there is none.
func (d *Devices) Delete(ctx context.Context, who Actor, id string) (Change, error) {
	if err := who.mayAdminister(); err != nil {
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
	if err := who.mayAdminister(); err != nil {
		return nil, err
	}
	return d.grants(), nil
}
