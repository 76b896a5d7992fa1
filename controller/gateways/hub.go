package gateways

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/wire"
)

// ErrOffline is wrapped by every Remote call made while its gateway has no
// link: "gateway site-a is offline".
var ErrOffline = errors.New("offline")

// Defaults of Config.
const (
	DefaultAckTimeout     = 5 * time.Second
	DefaultStatusInterval = 10 * time.Second
	DefaultPingInterval   = 15 * time.Second
	DefaultPingTimeout    = 5 * time.Second
	DefaultAuthTimeout    = 10 * time.Second
)

// Identity is an enrolled gateway as the store knows it.
type Identity struct {
	ID        string
	Name      string
	PublicKey ed25519.PublicKey
}

// Config sets a Hub up. Lookup and Desired are required.
type Config struct {
	// Lookup returns the enrolled gateway with this ID; an error refuses
	// the link (say ErrNotFound for an unknown or deleted gateway).
	Lookup func(ctx context.Context, gatewayID string) (Identity, error)
	// Desired is the full peer set gateway name should hold now, each
	// Lease being the grant's remaining life from now. It is sent on every
	// connect; the gateway drops any peer not in it.
	Desired func(ctx context.Context, name string) ([]api.PeerConfig, error)
	// Register is called when a gateway's link is up and its peer set
	// applied; Unregister when that link ends. A new link of a
	// gateway replaces the old one and calls Register again with the same
	// *Remote. Both may be nil; they must not block.
	Register, Unregister func(name string, r *Remote)
	// Seen is told each status a gateway reports (for last seen and
	// version in the store); may be nil; must not block for long.
	Seen   func(ctx context.Context, gatewayID string, st api.GatewayStatus, at time.Time)
	Logger *slog.Logger
	// Now is the clock (last seen, peers' expiry as listed); time.Now by default.
	Now func() time.Time

	AckTimeout     time.Duration // how long AddPeer & co wait for the gateway's ack
	StatusInterval time.Duration // asked of gateways in the welcome
	PingInterval   time.Duration
	PingTimeout    time.Duration
	AuthTimeout    time.Duration // from accept to a verified gateway_auth
}

// Hub serves gateways' links and holds one Remote per gateway name.
type Hub struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex         // guards remotes
	remotes map[string]*Remote // by gateway name; never removed, so a name keeps its Remote
}

// New makes a hub; the transport serves api.GatewayWebsocketPath with Serve.
func New(cfg Config) (*Hub, error) {
	if cfg.Lookup == nil || cfg.Desired == nil {
		return nil, errors.New("gateway hub: Lookup and Desired are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&cfg.AckTimeout, DefaultAckTimeout}, {&cfg.StatusInterval, DefaultStatusInterval},
		{&cfg.PingInterval, DefaultPingInterval}, {&cfg.PingTimeout, DefaultPingTimeout}, {&cfg.AuthTimeout, DefaultAuthTimeout}} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	return &Hub{cfg: cfg, log: cfg.Logger, remotes: map[string]*Remote{}}, nil
}

// Remote returns gateway name's Remote, online or not. Its calls fail
// with ErrOffline until the gateway connects.
func (h *Hub) Remote(name string) *Remote {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.remotes[name]
	if !ok {
		r = &Remote{name: name, hub: h, held: map[string]heldPeer{}}
		h.remotes[name] = r
	}
	return r
}

// Describe fills g's live fields (state, endpoint, peers, flows, and
// version and last seen when newer than stored) from its Remote.
func (h *Hub) Describe(g api.Gateway) api.Gateway {
	g.State = api.GatewayOffline
	h.mu.Lock()
	r, ok := h.remotes[g.Name]
	h.mu.Unlock()
	if !ok {
		return g
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.link != nil && r.link.id.ID == g.ID {
		g.State = api.GatewayOnline
		// Peers: what the gateway acknowledged holding, current to the last
		// ack; flows come with its periodic status.
		g.Endpoint, g.Peers, g.OpenFlows = r.endpoint, len(r.held), r.status.OpenFlows
		if r.version != "" {
			g.Version = r.version
		}
	}
	if r.gatewayID == g.ID && r.lastSeen.After(g.LastSeen) {
		g.LastSeen = r.lastSeen
	}
	return g
}

// Disconnect ends gateway name's link, if any (it was deleted).
func (h *Hub) Disconnect(name string) {
	h.mu.Lock()
	r, ok := h.remotes[name]
	h.mu.Unlock()
	if !ok {
		return
	}
	r.mu.Lock()
	s := r.link
	r.mu.Unlock()
	if s != nil {
		s.c.Close(websocket.StatusPolicyViolation, "gateway deleted")
	}
}

// Serve runs one gateway's link over c, a websocket the transport
// upgraded (controller/httpapi, behind its per-source limit), until it
// ends; cs is the TLS state the gateway's proof is bound to (nil on plain
// HTTP) and remote its address, for the log.
func (h *Hub) Serve(ctx context.Context, c *wire.Conn, cs *tls.ConnectionState, remote string) {
	defer c.CloseNow()
	id, auth, err := h.authenticate(ctx, c, cs)
	if err != nil {
		h.log.Warn("gateway refused", "remote", remote, "err", err)
		c.Write(ctx, api.TypeError, api.ErrorMsg{Code: api.CodeUnauthorized, Message: err.Error()})
		c.Close(websocket.StatusPolicyViolation, "authentication failed")
		return
	}
	if err := c.Write(ctx, api.TypeGatewayWelcome, api.GatewayWelcomeMsg{Name: id.Name, StatusInterval: api.Duration(h.cfg.StatusInterval)}); err != nil {
		return
	}
	r := h.Remote(id.Name)
	s := &gatewayLink{c: c, id: id, pending: map[uint64]chan api.PeerAck{}, done: make(chan struct{})}
	go h.readLoop(ctx, r, s)

	held, err := h.sync(ctx, s)
	if err != nil {
		h.log.Warn("gateway peer set not applied; closing its link", "gateway", id.Name, "err", err)
		c.Close(websocket.StatusInternalError, "peer set not applied")
		<-s.done
		return
	}
	r.attach(s, auth, held, h.cfg.Now())
	// The gateway may have been deleted while its peer set was being
	// applied (Delete's Disconnect saw no link of this one yet): look it
	// up again now that the link is attached, and refuse it if it is gone.
	if _, err := h.cfg.Lookup(ctx, id.ID); err != nil {
		h.log.Warn("gateway deleted while connecting; closing its link", "gateway", id.Name, "err", err)
		c.Close(websocket.StatusPolicyViolation, "gateway deleted")
		<-s.done
		r.detach(s)
		return
	}
	h.log.Info("gateway online", "gateway", id.Name, "id", id.ID, "version", auth.Version, "endpoint", auth.Endpoint, "peers", len(held))
	if h.cfg.Register != nil {
		h.cfg.Register(id.Name, r)
	}
	h.pingLoop(ctx, s)
	<-s.done
	if r.detach(s) {
		h.log.Info("gateway offline", "gateway", id.Name)
		if h.cfg.Unregister != nil {
			h.cfg.Unregister(id.Name, r)
		}
	}
}

// authenticate sends a nonce and checks the gateway's proof: the
// signature of its enrolled key over GatewayAuthProof — a device's
// proof (another context) never verifies here.
func (h *Hub) authenticate(ctx context.Context, c *wire.Conn, cs *tls.ConnectionState) (Identity, api.GatewayAuthMsg, error) {
	var auth api.GatewayAuthMsg
	exporter, err := api.AuthExporter(cs)
	if err != nil {
		return Identity{}, auth, err
	}
	hello, nonce, err := wire.NewHello()
	if err != nil {
		return Identity{}, auth, err
	}
	if err := c.Write(ctx, api.TypeHello, hello); err != nil {
		return Identity{}, auth, err
	}
	// Not ReadOne: anything in place of gateway_auth, an agent's auth
	// included, is refused with the hint below.
	actx, cancel := context.WithTimeout(ctx, h.cfg.AuthTimeout)
	defer cancel()
	env, err := c.Read(actx)
	if err != nil {
		return Identity{}, auth, fmt.Errorf("no gateway_auth message: %w", err)
	}
	if env.Type != api.TypeGatewayAuth {
		return Identity{}, auth, fmt.Errorf("expected gateway_auth first, got %q; this endpoint is for gateways (agents use %s)", env.Type, api.AgentWebsocketPath)
	}
	if err := env.Decode(&auth); err != nil {
		return Identity{}, auth, err
	}
	id, err := h.cfg.Lookup(actx, auth.GatewayID)
	if err != nil {
		return Identity{}, auth, fmt.Errorf("gateway %q: %w; enroll it with a token from `gatehouse admin gateways create NAME`", auth.GatewayID, err)
	}
	if err := wire.VerifyGatewayProof(id.PublicKey, exporter, nonce, auth); err != nil {
		return Identity{}, auth, err
	}
	if _, port, err := net.SplitHostPort(auth.Endpoint); err != nil || port == "" || len(auth.Endpoint) > 255 {
		return Identity{}, auth, fmt.Errorf("gateway %q: endpoint %.64q is not host:port; run it with --public-host", id.Name, auth.Endpoint)
	}
	if auth.WireGuardKey == "" || len(auth.WireGuardKey) > 64 {
		return Identity{}, auth, fmt.Errorf("gateway %q: no WireGuard public key", id.Name)
	}
	auth.Version = cut(auth.Version)
	return id, auth, nil
}

// sync sends the full peer set, paged to fit the read limit, and waits for
// the gateway's ack. It returns the set as held.
func (h *Hub) sync(ctx context.Context, s *gatewayLink) (map[string]heldPeer, error) {
	peers, err := h.cfg.Desired(ctx, s.id.Name)
	if err != nil {
		return nil, fmt.Errorf("peer set of gateway %q: %w", s.id.Name, err)
	}
	now := h.cfg.Now()
	held := make(map[string]heldPeer, len(peers))
	for _, pc := range peers {
		held[pc.PublicKey] = heldPeer{pc: pc, expires: now.Add(time.Duration(pc.Lease))}
	}
	pages := splitPeers(peers, api.MaxMessageBytes-1024)
	// A big set takes the gateway a while (800 peers: about 0.15 s, 2.3 s
	// under the race detector), so its wait grows with its size.
	timeout := h.cfg.AckTimeout + time.Duration(len(peers))*syncTimePerPeer
	ack, err := s.call(ctx, timeout, api.TypePeerSync, func(id uint64) []any {
		out := make([]any, len(pages))
		for i, p := range pages {
			m := api.PeerSync{ID: id, Peers: p}
			if len(pages) > 1 {
				m.Page, m.Pages = i, len(pages)
			}
			out[i] = m
		}
		return out
	})
	if err != nil {
		return nil, err
	}
	if ack.Error != "" {
		// Grants whose peers failed live on in the controller until
		// their next renewal, which fails (unknown_peer) and revokes them.
		h.log.Warn("gateway could not apply part of its peer set", "gateway", s.id.Name, "err", ack.Error)
	}
	return held, nil
}

// syncTimePerPeer is how much longer the hub waits for a peer set's ack
// for each peer in it.
const syncTimePerPeer = 10 * time.Millisecond

// maxVersion bounds the version a gateway reports (it is stored and shown).
const maxVersion = 64

func cut(v string) string {
	if len(v) > maxVersion {
		return v[:maxVersion]
	}
	return v
}

// splitPeers cuts peers into pages whose JSON stays under limit bytes.
func splitPeers(peers []api.PeerConfig, limit int) [][]api.PeerConfig {
	pages := [][]api.PeerConfig{{}}
	size := 0
	for _, pc := range peers {
		b, _ := json.Marshal(pc)
		if size+len(b)+1 > limit && len(pages[len(pages)-1]) > 0 {
			pages, size = append(pages, []api.PeerConfig{}), 0
		}
		pages[len(pages)-1] = append(pages[len(pages)-1], pc)
		size += len(b) + 1
	}
	return pages
}

// readLoop delivers acks and statuses until the connection ends, then
// closes s.done.
func (h *Hub) readLoop(ctx context.Context, r *Remote, s *gatewayLink) {
	defer close(s.done)
	defer s.c.CloseNow()
	for {
		// A malformed message ends the connection too: a gateway that
		// breaks the framing is not one to keep talking to.
		env, err := s.c.Read(ctx)
		if err != nil {
			if errors.Is(err, websocket.ErrMessageTooBig) {
				h.log.Warn("gateway sent an oversized message; connection closed", "gateway", s.id.Name, "limit", api.MaxMessageBytes)
			}
			return
		}
		switch env.Type {
		case api.TypePeerAck:
			var ack api.PeerAck
			if err := env.Decode(&ack); err != nil {
				h.log.Warn("malformed ack from gateway", "gateway", s.id.Name, "err", err)
				continue
			}
			s.deliver(ack)
		case api.TypeGatewayStatus:
			var st api.GatewayStatus
			if err := env.Decode(&st); err != nil {
				h.log.Warn("malformed status from gateway", "gateway", s.id.Name, "err", err)
				continue
			}
			now := h.cfg.Now()
			st.Version = cut(st.Version)
			r.setStatus(s, st, now)
			if h.cfg.Seen != nil {
				h.cfg.Seen(ctx, s.id.ID, st, now)
			}
		case api.TypeError:
			var e api.ErrorMsg
			env.Decode(&e)
			h.log.Warn("gateway reports an error", "gateway", s.id.Name, "code", e.Code, "message", e.Message)
		default:
			s.c.Write(ctx, api.TypeError, api.ErrorMsg{Code: "bad_request", Message: fmt.Sprintf("unknown message type %q", env.Type)})
		}
	}
}

// pingLoop pings until the link ends; a gateway that does not answer
// in PingTimeout is cut off (its peers then live on their leases).
func (h *Hub) pingLoop(ctx context.Context, s *gatewayLink) {
	t := time.NewTicker(h.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, h.cfg.PingTimeout)
			err := s.c.Ping(pctx)
			cancel()
			if err != nil {
				h.log.Warn("gateway did not answer a ping; closing its link", "gateway", s.id.Name, "err", err)
				s.c.CloseNow()
				return
			}
		}
	}
}

// gatewayLink is one authenticated gateway websocket.
type gatewayLink struct {
	c    *wire.Conn
	id   Identity
	done chan struct{} // closed when the connection has ended

	mu      sync.Mutex                  // guards pending, next, early and earlyAt; taken after Remote.mu when both are held
	pending map[uint64]chan api.PeerAck // requests awaiting their ack, by ID
	next    uint64
	early   *api.GatewayStatus // a status that came before the link was attached
	earlyAt time.Time
}

var errGone = errors.New("its connection ended before it acknowledged")

// call sends the messages build makes for a fresh request ID and waits
// for the gateway's ack of that ID.
func (s *gatewayLink) call(ctx context.Context, timeout time.Duration, typ string, build func(id uint64) []any) (api.PeerAck, error) {
	ch := make(chan api.PeerAck, 1)
	s.mu.Lock()
	s.next++
	id := s.next
	s.pending[id] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, id)
		s.mu.Unlock()
	}()
	for _, m := range build(id) {
		if err := s.c.Write(ctx, typ, m); err != nil {
			return api.PeerAck{}, fmt.Errorf("gateway %s: send %s: %w", s.id.Name, typ, err)
		}
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case ack := <-ch:
		return ack, nil
	case <-s.done:
		return api.PeerAck{}, fmt.Errorf("gateway %s: %s: %w", s.id.Name, typ, errGone)
	case <-t.C:
		return api.PeerAck{}, fmt.Errorf("gateway %s did not acknowledge %s within %s; it may be overloaded or cut off", s.id.Name, typ, timeout)
	case <-ctx.Done():
		return api.PeerAck{}, ctx.Err()
	}
}

// deliver hands an ack to its waiting call; an ack nobody waits for (the
// call timed out) is dropped.
func (s *gatewayLink) deliver(ack api.PeerAck) {
	s.mu.Lock()
	ch, ok := s.pending[ack.ID]
	s.mu.Unlock()
	if ok {
		select {
		case ch <- ack:
		default:
		}
	}
}
