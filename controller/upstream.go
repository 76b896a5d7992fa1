package controller

import (
	"context"
	"fmt"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// ActorUpstream is an upstream identity provider making users and setting
// their groups at sign-in and refresh; Name is its issuer.
const ActorUpstream ActorKind = "upstream_idp"

// upstreamDirectory is identity's Directory over the core: a user made at
// a first upstream sign-in and a membership the IdP changed are admin
// changes (by ActorUpstream), serialised with the others and committed,
// so the policy is rebuilt and live grants re-decided before the sign-in
// or refresh returns. So are changed claims (user.claims).
type upstreamDirectory struct {
	c  *Controller
	st store.UpstreamStore
}

var _ identity.Directory = upstreamDirectory{}

// UpstreamSignIn implements identity.Directory.
func (d upstreamDirectory) UpstreamSignIn(ctx context.Context, in store.UpstreamLogin) (store.UpstreamUser, error) {
	if err := validateUser(ctx, &api.User{Name: in.User, Groups: in.Groups}); err != nil {
		return store.UpstreamUser{}, fmt.Errorf("%w (from the identity provider's user name claim: choose another with --oidc-username-claim)", err)
	}
	return d.write(ctx, in.Issuer, func() (store.UpstreamUser, error) { return d.st.UpstreamSignIn(ctx, in) })
}

// SetUpstreamGroups implements identity.Directory.
func (d upstreamDirectory) SetUpstreamGroups(ctx context.Context, issuer, subject string, groups, managed []string, claims map[string]string) (store.UpstreamUser, error) {
	for _, g := range groups {
		if err := validName("group", g); err != nil {
			return store.UpstreamUser{}, err
		}
	}
	return d.write(ctx, issuer, func() (store.UpstreamUser, error) {
		return d.st.SetUpstreamGroups(ctx, issuer, subject, groups, managed, claims)
	})
}

// write runs save under the admin write lock and commits what it changed.
func (d upstreamDirectory) write(ctx context.Context, issuer string, save func() (store.UpstreamUser, error)) (store.UpstreamUser, error) {
	d.c.adminMu.Lock()
	defer d.c.adminMu.Unlock()
	u, err := save()
	if err != nil {
		return u, err
	}
	by := Actor{Kind: ActorUpstream, Name: issuer}
	switch {
	case u.Created:
		err = d.c.commit(ctx, Change{Kind: Created, Object: ObjectUser, Name: u.User, By: by})
	case u.GroupsChanged:
		err = d.c.commit(ctx, Change{Kind: Updated, Object: ObjectMember, Name: u.User, By: by})
	case u.ClaimsChanged:
		// Conditions read user.claims: the snapshot carries them.
		err = d.c.commit(ctx, Change{Kind: Updated, Object: ObjectUser, Name: u.User, By: by})
	}
	return u, err
}
