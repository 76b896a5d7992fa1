package controller

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/gateways"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
	"github.com/gatehouse-ztna/gatehouse/wire"
)

// Gateways are the standalone gateways: they enroll with a gateway token,
// dial in over their own websocket (controller/gateways.Hub) and come
// online in the registry as they connect.
type Gateways struct {
	hub     *gateways.Hub
	service *gateways.Service
	writes  *sync.Mutex // the controller's adminMu: one admin write at a time
	commit  func(context.Context, Change) error
	log     *slog.Logger
	// peers lists what every registered gateway holds.
	peers func(context.Context) []api.GatewayPeer
}

var _ Enforcer = (*gateways.Remote)(nil)

// newGateways builds the hub over st; a gateway that connects is sent the
// peers of its live grants and then registered.
func newGateways(c *Controller, st store.GatewayStore) (*Gateways, error) {
	svc := &gateways.Service{Store: st}
	hub, err := gateways.New(gateways.Config{
		Lookup: svc.Lookup,
		Desired: func(_ context.Context, name string) ([]api.PeerConfig, error) {
			return c.grants.Desired(name), nil
		},
		// The hub must not block: registering lists and cleans the
		// gateway's peers, which waits for its acks.
		Register: func(name string, r *gateways.Remote) {
			go func() {
				if !r.Online() {
					return // its link already ended; Unregister has run or will
				}
				if err := c.RegisterGateway(context.Background(), name, r); err != nil {
					c.log.Warn("register standalone gateway", "gateway", name, "err", err)
				}
			}()
		},
		// One Remote serves every link of a gateway: an old link ending
		// after a new one attached must not take the gateway offline.
		Unregister: func(name string, r *gateways.Remote) {
			if !r.Online() {
				c.UnregisterGateway(name, r)
			}
		},
		Seen:   svc.Seen,
		Logger: c.log.With("component", "gateway-hub"),
	})
	if err != nil {
		return nil, err
	}
	svc.Hub = hub
	return &Gateways{hub: hub, service: svc, writes: &c.adminMu, commit: c.commit, log: c.log, peers: c.grants.GatewayPeers}, nil
}

// CreateToken makes a single-use enrollment token for gateway req.Name;
// the answer is the only place its secret ever appears.
func (g *Gateways) CreateToken(ctx context.Context, who Actor, req api.GatewayTokenRequest) (api.GatewayEnrollmentToken, Change, error) {
	if err := who.mayWrite(identity.AreaGateways); err != nil {
		return api.GatewayEnrollmentToken{}, Change{}, err
	}
	g.writes.Lock()
	defer g.writes.Unlock()
	t, err := g.service.CreateToken(ctx, req)
	if err != nil {
		return t, Change{}, gatewayError(err)
	}
	g.log.Info("gateway enrollment token created", "id", t.ID, "gateway", t.Gateway, "expires_at", t.ExpiresAt)
	ch := Change{Kind: Created, Object: ObjectGatewayToken, Name: t.ID, By: who}
	return t, ch, g.commit(ctx, ch)
}

// ListTokens returns every gateway enrollment token, without its secret.
func (g *Gateways) ListTokens(ctx context.Context, who Actor) ([]api.GatewayEnrollmentToken, error) {
	if err := who.mayRead(identity.AreaGateways); err != nil {
		return nil, err
	}
	return g.service.Store.ListGatewayTokens(ctx)
}

// List returns every enrolled gateway with its live state.
func (g *Gateways) List(ctx context.Context, who Actor) ([]api.Gateway, error) {
	if err := who.mayRead(identity.AreaGateways); err != nil {
		return nil, err
	}
	return g.service.List(ctx)
}

// Delete forgets gateway name and ends its link at once. ErrNotFound if
// there is none.
func (g *Gateways) Delete(ctx context.Context, who Actor, name string) (Change, error) {
	if err := who.mayWrite(identity.AreaGateways); err != nil {
		return Change{}, err
	}
	g.writes.Lock()
	defer g.writes.Unlock()
	if err := g.service.Delete(ctx, name); err != nil {
		return Change{}, gatewayError(err)
	}
	ch := Change{Kind: Deleted, Object: ObjectGateway, Name: name, By: who}
	return ch, g.commit(ctx, ch)
}

// Peers returns the peers every registered gateway holds.
func (g *Gateways) Peers(ctx context.Context, who Actor) ([]api.GatewayPeer, error) {
	if err := who.mayRead(identity.AreaGateways); err != nil {
		return nil, err
	}
	return g.peers(ctx), nil
}

// Enroll spends a gateway token on a gateway with its Ed25519 key. It
// takes no Actor: the token is the credential. A refused token is
// ErrTokenRefused.
func (g *Gateways) Enroll(ctx context.Context, req api.GatewayEnrollRequest) (api.GatewayEnrollResponse, Change, error) {
	res, err := g.service.Enroll(ctx, req)
	if err != nil {
		return res, Change{}, tokenRefused(gatewayError(err))
	}
	g.log.Info("gateway enrolled", "gateway", res.Name, "id", res.GatewayID)
	ch := Change{Kind: Enrolled, Object: ObjectGateway, Name: res.Name, By: Actor{Kind: ActorEnrollmentToken, Name: res.Name}}
	return res, ch, g.commit(ctx, ch)
}

// Serve runs one gateway's control connection over conn (upgraded by the
// transport, whose TLS state cs binds the gateway's proof) until it ends.
func (g *Gateways) Serve(ctx context.Context, conn *wire.Conn, cs *tls.ConnectionState, remote string) {
	g.hub.Serve(ctx, conn, cs, remote)
}

// gatewayError maps the gateway service's input errors onto ErrInvalid.
func gatewayError(err error) error {
	if errors.Is(err, gateways.ErrInvalid) {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return err
}
