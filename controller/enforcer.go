package controller

import (
	"context"

	"github.com/gatehouse-ztna/gatehouse/controller/grants"
)

// EmbeddedGateway is the name of the gateway cmd/gatehouse-controller runs
// in its own process, and the gateway of an app that names none.
const EmbeddedGateway = grants.EmbeddedGateway

// Enforcer is a gateway as the controller drives it (see grants.Enforcer).
type Enforcer = grants.Enforcer

// ErrPeerLost is what an Enforcer's RenewPeer and RemovePeer wrap when the
// gateway does not hold the peer (see grants.ErrPeerLost): a renewal
// answered so revokes the grant, and the agent asks again.
var ErrPeerLost = grants.ErrPeerLost

// RegisterGateway brings the gateway e online as name; peers it holds that
// no live grant owns are removed first (see grants.Manager.RegisterGateway).
func (c *Controller) RegisterGateway(ctx context.Context, name string, e Enforcer) error {
	if err := validName("gateway", name); err != nil {
		return err
	}
	return c.grants.RegisterGateway(ctx, name, e)
}

// UnregisterGateway takes the gateway e registered as name offline: its
// apps are denied with "gateway NAME is offline" and its grants end at
// their lease.
func (c *Controller) UnregisterGateway(name string, e Enforcer) {
	c.grants.UnregisterGateway(name, e)
}
