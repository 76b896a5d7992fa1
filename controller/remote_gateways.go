package controller

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/gateways"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// remoteGateways are the standalone gateways: they enroll with a gateway
// token, dial in over their own websocket (controller/gateways.Hub) and
// come online in the registry as they connect.
type remoteGateways struct {
	hub     *gateways.Hub
	service *gateways.Service
}

var _ Enforcer = (*gateways.Remote)(nil)

// startRemoteGateways builds the hub over st; a gateway that connects is
// sent the peers of its live grants and then registered.
func (c *Controller) startRemoteGateways(st store.GatewayStore) error {
	svc := &gateways.Service{Store: st}
	hub, err := gateways.New(gateways.Config{
		Lookup:  svc.Lookup,
		Desired: c.desiredPeers,
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
		return err
	}
	svc.Hub = hub
	c.remote = remoteGateways{hub: hub, service: svc}
	return nil
}

// desiredPeers is the grants manager's Desired, as the hub asks for it.
func (c *Controller) desiredPeers(_ context.Context, name string) ([]api.PeerConfig, error) {
	return c.grants.Desired(name), nil
}

// mountRemoteGateways serves the gateway websocket and enrollment (open
// to anyone, each behind the per-source limit of its device twin) and the
// admin endpoints for gateways and their tokens.
func (c *Controller) mountRemoteGateways(mux *http.ServeMux) {
	mux.Handle("GET "+api.GatewayWebsocketPath, c.authLimit.wrap(c.log.Warn, c.remote.hub))
	mux.Handle("POST "+api.GatewayEnrollPath, c.enrollLimit.wrap(c.log.Warn, http.HandlerFunc(c.handleGatewayEnroll)))
	mux.HandleFunc("POST "+api.PathGatewayTokens, c.admin(func(r *http.Request) (any, error) {
		var req api.GatewayTokenRequest
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		t, err := c.remote.service.CreateToken(r.Context(), req)
		if err == nil {
			c.log.Info("gateway enrollment token created", "id", t.ID, "gateway", t.Gateway, "expires_at", t.ExpiresAt)
		}
		return t, gatewayError(err)
	}))
	mux.HandleFunc("GET "+api.PathGatewayTokens, c.admin(func(r *http.Request) (any, error) {
		return c.remote.service.Store.ListGatewayTokens(r.Context())
	}))
	mux.HandleFunc("GET "+api.PathGateways, c.admin(func(r *http.Request) (any, error) {
		return c.remote.service.List(r.Context())
	}))
	mux.HandleFunc("DELETE "+api.PathGateways+"/{name}", c.admin(func(r *http.Request) (any, error) {
		return nil, gatewayError(c.remote.service.Delete(r.Context(), r.PathValue("name")))
	}))
}

// handleGatewayEnroll turns a single-use gateway token into an enrolled
// gateway with its Ed25519 key.
func (c *Controller) handleGatewayEnroll(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxEnrollBodyBytes)
	var req api.GatewayEnrollRequest
	err := decodeBody(r, &req)
	var res api.GatewayEnrollResponse
	if err == nil {
		res, err = c.remote.service.Enroll(r.Context(), req)
		err = gatewayError(err)
	}
	if err != nil {
		c.log.Warn("gateway enrollment refused", "remote", r.RemoteAddr, "err", clip(err.Error()))
		msg := err.Error()
		if statusOf(err) == http.StatusForbidden {
			msg += ": ask an admin for a new gateway token (gatehouse admin gateways create NAME)"
		}
		writeError(w, statusOf(err), clip(msg))
		return
	}
	c.log.Info("gateway enrolled", "gateway", res.Name, "id", res.GatewayID)
	writeJSONResponse(w, http.StatusOK, res)
}

// gatewayError maps the gateway service's input errors onto the admin
// API's (400); the store's token errors already map to 403.
func gatewayError(err error) error {
	if errors.Is(err, gateways.ErrInvalid) {
		return fmt.Errorf("%w: %v", errBadRequest, err)
	}
	return err
}
