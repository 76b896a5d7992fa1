package controller

import (
	"context"
	"maps"
	"sync"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// Objects is one kind of named admin object — users, groups, apps,
// posture profiles or policies — and its domain operations. Every write is
// checked (the actor, then the object), serialised with the other admin
// writes, stored and committed: the policy is rebuilt and every live
// grant re-decided before the write returns.
type Objects[T any] struct {
	kind     ObjectKind
	area     identity.Area // the role matrix's area the kind belongs to
	name     func(T) string
	validate func(context.Context, *T) error
	create   func(context.Context, T) error
	update   func(context.Context, T) error // nil: not updatable
	get      func(context.Context, string) (T, error)
	del      func(context.Context, string) error
	list     func(context.Context) ([]T, error)
	// devicesOf, when set, names the devices deleting an object takes
	// with it (a user's): they are forgotten with it.
	devicesOf func(context.Context, string) ([]string, error)

	writes *sync.Mutex // the controller's adminMu
	commit func(context.Context, Change) error
}

// NameOf is v's name.
func (o *Objects[T]) NameOf(v T) string { return o.name(v) }

// Updatable reports whether Update exists for this kind (groups have
// nothing to update but their members).
func (o *Objects[T]) Updatable() bool { return o.update != nil }

// List returns every object of the kind, sorted by name.
func (o *Objects[T]) List(ctx context.Context, who Actor) ([]T, error) {
	if err := who.mayRead(o.area); err != nil {
		return nil, err
	}
	return o.list(ctx)
}

// Get returns the object named name; ErrNotFound if there is none.
func (o *Objects[T]) Get(ctx context.Context, who Actor, name string) (T, error) {
	if err := who.mayRead(o.area); err != nil {
		var zero T
		return zero, err
	}
	return o.get(ctx, name)
}

// Create stores v and returns it as stored; ErrConflict if its name is taken.
func (o *Objects[T]) Create(ctx context.Context, who Actor, v T) (T, Change, error) {
	return o.write(ctx, who, Created, o.create, v)
}

// Update replaces the object named as v is and returns it as stored;
// ErrNotFound if there is none.
func (o *Objects[T]) Update(ctx context.Context, who Actor, v T) (T, Change, error) {
	if o.update == nil {
		var zero T
		return zero, Change{}, Invalid("a %s cannot be updated", o.kind)
	}
	return o.write(ctx, who, Updated, o.update, v)
}

func (o *Objects[T]) write(ctx context.Context, who Actor, kind ChangeKind, save func(context.Context, T) error, v T) (T, Change, error) {
	var zero T
	if err := who.mayWrite(o.area); err != nil {
		return zero, Change{}, err
	}
	// One admin write at a time: validation reads the store, and the
	// policy snapshot must be rebuilt from the state the write left.
	o.writes.Lock()
	defer o.writes.Unlock()
	if err := o.validate(ctx, &v); err != nil {
		return zero, Change{}, err
	}
	if err := save(ctx, v); err != nil {
		return zero, Change{}, err
	}
	ch := Change{Kind: kind, Object: o.kind, Name: o.name(v), By: who}
	if err := o.commit(ctx, ch); err != nil {
		return zero, ch, err
	}
	got, err := o.get(ctx, o.name(v))
	return got, ch, err
}

// Delete deletes the object named name (and whatever goes with it: a
// user's devices); ErrNotFound if there is none.
func (o *Objects[T]) Delete(ctx context.Context, who Actor, name string) (Change, error) {
	if err := who.mayWrite(o.area); err != nil {
		return Change{}, err
	}
	o.writes.Lock()
	defer o.writes.Unlock()
	var devices []string
	if o.devicesOf != nil {
		var err error
		if devices, err = o.devicesOf(ctx, name); err != nil {
			return Change{}, err
		}
	}
	if err := o.del(ctx, name); err != nil {
		return Change{}, identityError(err)
	}
	ch := Change{Kind: Deleted, Object: o.kind, Name: name, By: who, Devices: devices}
	return ch, o.commit(ctx, ch)
}

// Members are groups' memberships.
type Members struct {
	store  store.Store
	writes *sync.Mutex // the controller's adminMu: one admin write at a time
	commit func(context.Context, Change) error
}

// Add puts user in group (a no-op when it is there already); ErrNotFound
// if either is missing.
func (m *Members) Add(ctx context.Context, who Actor, group, user string) (Change, error) {
	return m.write(ctx, who, Added, m.store.AddMember, group, user)
}

// Remove takes user out of group; ErrNotFound if it is not a member.
func (m *Members) Remove(ctx context.Context, who Actor, group, user string) (Change, error) {
	return m.write(ctx, who, Removed, m.store.RemoveMember, group, user)
}

func (m *Members) write(ctx context.Context, who Actor, kind ChangeKind, save func(context.Context, string, string) error, group, user string) (Change, error) {
	if err := who.mayWrite(identity.AreaUsers); err != nil {
		return Change{}, err
	}
	m.writes.Lock()
	defer m.writes.Unlock()
	if err := save(ctx, group, user); err != nil {
		return Change{}, err
	}
	ch := Change{Kind: kind, Object: ObjectMember, Name: group + "/" + user, By: who}
	return ch, m.commit(ctx, ch)
}

// newObjects makes the admin objects' operations over the controller's
// store.
func (c *Controller) newObjects() {
	st, writes, commit := c.store, &c.adminMu, c.commit
	c.Users = &Objects[api.User]{kind: ObjectUser, area: identity.AreaUsers, name: func(u api.User) string { return u.Name }, validate: validateUser,
		create: st.CreateUser, update: st.UpdateUser, get: c.userWithClaims, del: st.DeleteUser, list: st.ListUsers,
		devicesOf: func(ctx context.Context, user string) ([]string, error) {
			devs, err := st.ListDevices(ctx)
			if err != nil {
				return nil, err
			}
			var ids []string
			for _, d := range devs {
				if d.User == user {
					ids = append(ids, d.ID)
				}
			}
			return ids, nil
		},
		writes: writes, commit: commit}
	c.Groups = &Objects[api.Group]{kind: ObjectGroup, area: identity.AreaUsers, name: func(g api.Group) string { return g.Name },
		validate: func(_ context.Context, g *api.Group) error { return validName("group", g.Name) },
		create:   st.CreateGroup, get: st.GetGroup, del: st.DeleteGroup, list: st.ListGroups, writes: writes, commit: commit}
	c.Apps = &Objects[api.App]{kind: ObjectApp, area: identity.AreaApps, name: func(a api.App) string { return a.Name },
		validate: func(ctx context.Context, a *api.App) error { return validateApp(ctx, st, a) },
		create:   st.CreateApp, update: st.UpdateApp, get: st.GetApp, del: st.DeleteApp, list: st.ListApps, writes: writes, commit: commit}
	c.PostureProfiles = &Objects[api.PostureProfile]{kind: ObjectPostureProfile, area: identity.AreaPolicies, name: func(p api.PostureProfile) string { return p.Name },
		validate: validateProfile, create: st.CreateProfile, update: st.UpdateProfile, get: st.GetProfile,
		del: st.DeleteProfile, list: st.ListProfiles, writes: writes, commit: commit}
	c.Policies = &Objects[api.Policy]{kind: ObjectPolicy, area: identity.AreaPolicies, name: func(p api.Policy) string { return p.Name },
		validate: func(ctx context.Context, p *api.Policy) error { return validatePolicy(ctx, st, p) },
		create:   st.CreatePolicy, update: st.UpdatePolicy, get: st.GetPolicy, del: st.DeletePolicy, list: st.ListPolicies,
		writes: writes, commit: commit}
	c.Members = &Members{store: st, writes: writes, commit: commit}
}

// userWithClaims is the stored user with the IdP claims the policy holds
// for it (the snapshot's: what decisions read).
func (c *Controller) userWithClaims(ctx context.Context, name string) (api.User, error) {
	u, err := c.store.GetUser(ctx, name)
	if err != nil {
		return u, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snap != nil {
		u.Claims = maps.Clone(c.snap.Claims[name])
	}
	return u, nil
}
