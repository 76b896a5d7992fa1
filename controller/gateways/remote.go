package gateways

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/grants"
)

// Remote is one standalone gateway as the controller drives it: a
// grants.Enforcer, whose RenewPeer and RemovePeer wrap grants.ErrPeerLost
// when the gateway answers that it does not hold the peer (its ack's code
// unknown_peer). It stays the same object across
// the gateway's links; between them every call fails at once with
// ErrOffline.
type Remote struct {
	name string
	hub  *Hub

	mu        sync.Mutex   // guards every field below
	link      *gatewayLink // nil while offline
	gatewayID string       // of the last link
	endpoint  string       // WireGuard UDP host:port, from the last link
	wgKey     string       // WireGuard public key, from the last link
	version   string
	lastSeen  time.Time
	status    api.GatewayStatus
	flows     map[string]int      // open flows by peer key, from the last status
	held      map[string]heldPeer // peers the gateway acknowledged, by public key
}

var _ grants.Enforcer = (*Remote)(nil)

// heldPeer is a peer the gateway acknowledged, with its expiry on the
// hub's clock (for listing only: the gateway enforces its own).
type heldPeer struct {
	pc      api.PeerConfig
	expires time.Time
}

// Name is the gateway's name, as apps name it.
func (r *Remote) Name() string { return r.name }

// Online reports whether the gateway has a link now.
func (r *Remote) Online() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.link != nil
}

// Endpoint is the UDP host:port agents reach the gateway's WireGuard at
// (as last reported; empty before its first link).
func (r *Remote) Endpoint() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.endpoint
}

// PublicKey is the gateway's WireGuard public key (base64).
func (r *Remote) PublicKey() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.wgKey
}

// AddPeer installs (or updates in place) a grant's peer and returns once
// the gateway has acknowledged it: then the gateway admits its flows.
func (r *Remote) AddPeer(ctx context.Context, pc api.PeerConfig) error {
	if pc.Lease <= 0 {
		return fmt.Errorf("peer for app %q: lease %s is not positive", pc.App, time.Duration(pc.Lease))
	}
	err := r.call(ctx, api.TypePeerAdd, func(id uint64) any { return api.PeerAdd{ID: id, Peer: pc} })
	if err != nil {
		return fmt.Errorf("peer for app %q: %w", pc.App, err)
	}
	r.mu.Lock()
	r.held[pc.PublicKey] = heldPeer{pc: pc, expires: r.hub.cfg.Now().Add(time.Duration(pc.Lease))}
	r.mu.Unlock()
	return nil
}

// RenewPeer gives a held peer lease more life from receipt, on the
// gateway's own clock.
func (r *Remote) RenewPeer(ctx context.Context, publicKey string, lease time.Duration) error {
	if lease <= 0 {
		return fmt.Errorf("renew %s: lease %s is not positive", publicKey, lease)
	}
	err := r.call(ctx, api.TypePeerRenew, func(id uint64) any {
		return api.PeerRenew{ID: id, PublicKey: publicKey, Lease: api.Duration(lease)}
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err == nil:
		if p, ok := r.held[publicKey]; ok {
			p.expires = r.hub.cfg.Now().Add(lease)
			r.held[publicKey] = p
		}
	case errors.Is(err, grants.ErrPeerLost):
		delete(r.held, publicKey)
	}
	if err != nil {
		return fmt.Errorf("renew %s: %w", publicKey, err)
	}
	return nil
}

// RemovePeer has the gateway reset the peer's open flows and remove it.
func (r *Remote) RemovePeer(ctx context.Context, publicKey string) error {
	err := r.call(ctx, api.TypePeerRemove, func(id uint64) any { return api.PeerRemove{ID: id, PublicKey: publicKey} })
	if err == nil || errors.Is(err, grants.ErrPeerLost) {
		r.mu.Lock()
		delete(r.held, publicKey)
		r.mu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("remove %s: %w", publicKey, err)
	}
	return nil
}

// Peers lists the peers the gateway acknowledged and whose lease has not
// run out, with open flows from its last status, sorted by overlay address.
func (r *Remote) Peers(context.Context) []api.GatewayPeer {
	now := r.hub.cfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]api.GatewayPeer, 0, len(r.held))
	for k, p := range r.held {
		if !p.expires.After(now) {
			delete(r.held, k)
			continue
		}
		out = append(out, api.GatewayPeer{PublicKey: k, OverlayAddr: p.pc.OverlayAddr, App: p.pc.App,
			ExpiresAt: p.expires, OpenFlows: r.flows[k]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].OverlayAddr < out[j].OverlayAddr })
	return out
}

// call sends one request on the current link and waits for its ack.
func (r *Remote) call(ctx context.Context, typ string, msg func(id uint64) any) error {
	r.mu.Lock()
	s := r.link
	r.mu.Unlock()
	if s == nil {
		return fmt.Errorf("gateway %s is %w; check that gatehouse-gateway runs there and reaches the controller", r.name, ErrOffline)
	}
	ack, err := s.call(ctx, r.hub.cfg.AckTimeout, typ, func(id uint64) []any { return []any{msg(id)} })
	if errors.Is(err, errGone) {
		return fmt.Errorf("gateway %s went %w while applying %s", r.name, ErrOffline, typ)
	}
	if err != nil {
		return err
	}
	switch {
	case ack.Error == "":
		return nil
	case ack.Code == api.CodeUnknownPeer:
		return fmt.Errorf("gateway %s: %w", r.name, grants.ErrPeerLost)
	}
	return fmt.Errorf("gateway %s refused %s: %s", r.name, typ, ack.Error)
}

// attach makes s the current link, ending any older one.
func (r *Remote) attach(s *gatewayLink, auth api.GatewayAuthMsg, held map[string]heldPeer, now time.Time) {
	r.mu.Lock()
	old := r.link
	r.link, r.gatewayID = s, s.id.ID
	r.endpoint, r.wgKey, r.version, r.lastSeen = auth.Endpoint, auth.WireGuardKey, auth.Version, now
	r.held, r.flows = held, map[string]int{}
	r.mu.Unlock()
	s.mu.Lock()
	early, at := s.early, s.earlyAt
	s.mu.Unlock()
	if early != nil {
		r.setStatus(s, *early, at)
	}
	if old != nil {
		old.c.CloseNow()
	}
}

// detach forgets s if it is still current, and reports whether it was.
func (r *Remote) detach(s *gatewayLink) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.link != s {
		return false
	}
	r.link = nil
	return true
}

// setStatus records a status of link s.
func (r *Remote) setStatus(s *gatewayLink, st api.GatewayStatus, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.link != s {
		// Sent before its link was attached (during the peer sync):
		// kept for attach.
		s.mu.Lock()
		s.early, s.earlyAt = &st, now
		s.mu.Unlock()
		return
	}
	r.status, r.lastSeen = st, now
	if st.Version != "" {
		r.version = st.Version
	}
	r.flows = make(map[string]int, len(st.PeerStats))
	for _, p := range st.PeerStats {
		r.flows[p.PublicKey] = p.OpenFlows
	}
}
