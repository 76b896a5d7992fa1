package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/tunnel"
)

// flushLimit bounds the wait for a removed peer's resets to leave.
const flushLimit = 100 * time.Millisecond

// DefaultMaxFlowsPerPeer is how many open flows one grant may hold: far
// above what one device uses of one app, far below the gateway's file
// descriptors (each flow holds one upstream socket).
const DefaultMaxFlowsPerPeer = 512

// refusalLogEvery spaces a peer's log lines about refused flows, so a
// peer that keeps knocking cannot flood the log.
const refusalLogEvery = 10 * time.Second

// ErrUnknownPeer is returned for a public key the gateway does not hold.
var ErrUnknownPeer = errors.New("no such peer on this gateway")

// Config sets a gateway up.
type Config struct {
	PrivateKey tunnel.PrivateKey
	ListenPort int    // UDP for WireGuard; 0 picks one
	PublicHost string // the host agents reach the UDP port at
	Logger     *slog.Logger
	// DialTimeout bounds the dial to an upstream; default 5 s.
	DialTimeout time.Duration

	// MaxFlowsPerPeer caps one peer's open flows; a new flow over it is
	// refused with a reset. Default DefaultMaxFlowsPerPeer.
	MaxFlowsPerPeer int
	// MaxHalfOpenPerPeer, MaxHalfOpen and HandshakeTimeout bound the TCP
	// handshakes in progress; see tunnel.ServerConfig. 0 takes tunnel's
	// defaults.
	MaxHalfOpenPerPeer int
	MaxHalfOpen        int
	HandshakeTimeout   time.Duration
}

// Gateway holds one peer per grant.
type Gateway struct {
	srv      *tunnel.Server
	log      *slog.Logger
	host     string
	dialer   net.Dialer
	maxFlows int // per peer

	mu    sync.Mutex           // guards peers, every peer's fields, closed and flowsTotal
	peers map[netip.Addr]*peer // by overlay address

	removals   sync.WaitGroup // WireGuard peer removals still flushing
	closed     bool
	flowsTotal uint64 // flows served since start
}

type peer struct {
	pub     tunnel.PublicKey
	overlay netip.Addr
	app     string
	dests   map[netip.AddrPort]string
	expires time.Time // from time.Now (monotonic) plus the lease received; never a wall-clock time from the wire
	timer   *time.Timer
	flows   map[*tunnel.Flow]string // open flows → the upstream each was dialed to
	refused refusalLog
}

// refusalLog rate-limits a peer's "flow refused" log lines: one per
// refusalLogEvery, carrying how many refusals it stands for.
type refusalLog struct {
	last     time.Time
	unlogged int
}

// note counts a refusal and reports how many to log now (0: stay quiet).
func (r *refusalLog) note(now time.Time) int {
	r.unlogged++
	if now.Sub(r.last) < refusalLogEvery {
		return 0
	}
	n := r.unlogged
	r.last, r.unlogged = now, 0
	return n
}

// New starts the WireGuard device. It admits nothing until AddPeer.
func New(cfg Config) (*Gateway, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.MaxFlowsPerPeer == 0 {
		cfg.MaxFlowsPerPeer = DefaultMaxFlowsPerPeer
	}
	if cfg.MaxFlowsPerPeer < 0 {
		return nil, fmt.Errorf("start gateway: MaxFlowsPerPeer %d: want a positive cap (0 takes the default %d)", cfg.MaxFlowsPerPeer, DefaultMaxFlowsPerPeer)
	}
	g := &Gateway{log: cfg.Logger, host: cfg.PublicHost, peers: map[netip.Addr]*peer{}, maxFlows: cfg.MaxFlowsPerPeer}
	g.dialer.Timeout = cfg.DialTimeout
	srv, err := tunnel.NewServer(tunnel.ServerConfig{
		PrivateKey:         cfg.PrivateKey,
		ListenPort:         cfg.ListenPort,
		Logger:             cfg.Logger.With("component", "wireguard"),
		Admit:              g.admit,
		Serve:              g.serve,
		MaxHalfOpenPerPeer: cfg.MaxHalfOpenPerPeer,
		MaxHalfOpen:        cfg.MaxHalfOpen,
		HandshakeTimeout:   cfg.HandshakeTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("start gateway: %w", err)
	}
	g.srv = srv
	return g, nil
}

// Endpoint is the host:port agents send WireGuard packets to.
func (g *Gateway) Endpoint() string {
	return net.JoinHostPort(g.host, fmt.Sprint(g.srv.Port()))
}

// PublicKey is the gateway's WireGuard public key (base64).
func (g *Gateway) PublicKey() string { return g.srv.PublicKey().String() }

// AddPeer installs a grant's peer; it admits flows as soon as it returns.
// Re-adding a key at its own overlay address updates the grant in place.
func (g *Gateway) AddPeer(_ context.Context, pc api.PeerConfig) error {
	p, err := parsePeer(pc)
	if err != nil {
		return err
	}
	if pc.Lease <= 0 {
		return fmt.Errorf("peer for app %q: lease %s is not positive", pc.App, time.Duration(pc.Lease))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return fmt.Errorf("peer for app %q: gateway is shut down", pc.App)
	}
	if old, ok := g.peers[p.overlay]; ok && old.pub != p.pub {
		return fmt.Errorf("peer for app %q: overlay address %s is already held by another peer", pc.App, p.overlay)
	}
	if other := g.byKeyLocked(pc.PublicKey); other != nil && other.overlay != p.overlay {
		return fmt.Errorf("peer for app %q: public key already holds overlay address %s; one key, one grant", pc.App, other.overlay)
	}
	if err := g.srv.SetPeer(p.pub, netip.PrefixFrom(p.overlay, 32)); err != nil {
		return err
	}
	if old, ok := g.peers[p.overlay]; ok {
		old.timer.Stop()
		p.flows = old.flows
		for f, upstream := range p.flows {
			if p.dests[f.Dst] != upstream {
				f.Reset() // its destination left the grant, or moved
				delete(p.flows, f)
			}
		}
	}
	g.peers[p.overlay] = p
	p.timer = time.AfterFunc(time.Until(p.expires), func() { g.expire(p.overlay) })
	g.log.Info("peer added", "app", p.app, "overlay", p.overlay, "expires_at", p.expires)
	return nil
}

// RenewPeer gives a peer lease more life from now, on this gateway's
// monotonic clock.
func (g *Gateway) RenewPeer(_ context.Context, publicKey string, lease time.Duration) error {
	if lease <= 0 {
		return fmt.Errorf("renew %s: lease %s is not positive", publicKey, lease)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.byKeyLocked(publicKey)
	if p == nil {
		return fmt.Errorf("renew %s: %w", publicKey, ErrUnknownPeer)
	}
	p.expires = time.Now().Add(lease)
	p.timer.Reset(lease)
	return nil
}

// RemovePeer resets the peer's open flows — the resets still travel through
// the tunnel — and then removes the peer.
func (g *Gateway) RemovePeer(_ context.Context, publicKey string) error {
	g.mu.Lock()
	p := g.byKeyLocked(publicKey)
	if p == nil {
		g.mu.Unlock()
		return fmt.Errorf("remove %s: %w", publicKey, ErrUnknownPeer)
	}
	g.dropLocked(p)
	g.mu.Unlock()
	g.log.Info("peer removed", "app", p.app, "overlay", p.overlay)
	return nil
}

// Peers lists the installed peers, sorted by overlay address.
func (g *Gateway) Peers(context.Context) []api.GatewayPeer {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]api.GatewayPeer, 0, len(g.peers))
	for _, p := range g.peers {
		out = append(out, api.GatewayPeer{PublicKey: p.pub.String(), OverlayAddr: p.overlay.String(),
			App: p.app, ExpiresAt: p.expires, OpenFlows: len(p.flows)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].OverlayAddr < out[j].OverlayAddr })
	return out
}

// Stats is what a gateway reports about itself.
type Stats struct {
	Peers      int
	OpenFlows  int
	FlowsTotal uint64 // flows admitted since start
	SYN        tunnel.SYNStats
	// PerPeer is every peer's open flows, by public key.
	PerPeer map[string]int
}

// Stats counts peers and flows now.
func (g *Gateway) Stats() Stats {
	g.mu.Lock()
	st := Stats{Peers: len(g.peers), FlowsTotal: g.flowsTotal, PerPeer: make(map[string]int, len(g.peers))}
	for _, p := range g.peers {
		st.OpenFlows += len(p.flows)
		st.PerPeer[p.pub.String()] = len(p.flows)
	}
	g.mu.Unlock()
	st.SYN = g.srv.SYNStats()
	return st
}

// Close stops the gateway; every flow is reset, and the resets are
// flushed through the tunnels before the device goes.
func (g *Gateway) Close() error {
	g.mu.Lock()
	g.closed = true
	for _, p := range g.peers {
		g.detachLocked(p)
	}
	g.mu.Unlock()
	g.removals.Wait()
	return g.srv.Close()
}

// expire drops a peer whose lease ran out without renewal: a gateway that
// has lost its controller fails closed on its own.
func (g *Gateway) expire(overlay netip.Addr) {
	g.mu.Lock()
	p, ok := g.peers[overlay]
	if !ok || p.expires.After(time.Now()) {
		g.mu.Unlock()
		return
	}
	g.dropLocked(p)
	g.mu.Unlock()
	g.log.Info("peer lease expired", "app", p.app, "overlay", overlay)
}

// dropLocked detaches p and removes it from WireGuard once its resets have
// been flushed. The data stops at the detach (no flow is admitted, open
// ones are reset), so nobody waits for the flush — which keeps a
// revocation of many grants from queueing behind one another.
func (g *Gateway) dropLocked(p *peer) {
	g.detachLocked(p)
	g.removals.Add(1) // under g.mu, so Close's Wait never races it
	go func() {
		defer g.removals.Done()
		g.srv.Flush(flushLimit)
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.byKeyLocked(p.pub.String()) != nil {
			return // the key was granted again meanwhile; keep its peer
		}
		if err := g.srv.RemovePeer(p.pub); err != nil {
			g.log.Warn("remove WireGuard peer", "app", p.app, "err", err)
		}
	}()
}

// detachLocked forgets p so no new flow is admitted, and resets its flows.
func (g *Gateway) detachLocked(p *peer) {
	p.timer.Stop()
	delete(g.peers, p.overlay)
	for f := range p.flows {
		f.Reset()
	}
	p.flows = nil
}

func (g *Gateway) byKeyLocked(publicKey string) *peer {
	pub, err := tunnel.ParsePublicKey(publicKey)
	if err != nil {
		return nil
	}
	for _, p := range g.peers {
		if p.pub == pub {
			return p
		}
	}
	return nil
}

// admit runs before the TCP handshake completes: only a live peer under
// its open-flow cap reaching one of its grant's destinations passes.
func (g *Gateway) admit(src, dst netip.AddrPort) bool {
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	p, ok := g.peers[src.Addr()]
	if !ok || !p.expires.After(now) {
		return false
	}
	if _, ok := p.dests[dst]; !ok {
		g.refuseLocked(p, now, "flow refused: destination not in grant", "src", src, "dst", dst)
		return false
	}
	if len(p.flows) >= g.maxFlows {
		g.refuseLocked(p, now, "flow refused: peer at its open-flow cap", "src", src, "dst", dst, "cap", g.maxFlows)
		return false
	}
	return true
}

// refuseLocked logs a refused flow of p, at most once per refusalLogEvery.
func (g *Gateway) refuseLocked(p *peer, now time.Time, msg string, args ...any) {
	if n := p.refused.note(now); n > 0 {
		g.log.Info(msg, append([]any{"app", p.app, "refused", n, "next_log_in", refusalLogEvery}, args...)...)
	}
}

func (g *Gateway) serve(f *tunnel.Flow) {
	defer f.Close()
	g.mu.Lock()
	p, ok := g.peers[f.Src.Addr()]
	var upstream string
	if ok {
		upstream, ok = p.dests[f.Dst]
	}
	if ok && len(p.flows) >= g.maxFlows {
		// Handshakes admitted together can pass the cap in admit; the
		// count here is the exact one.
		g.refuseLocked(p, time.Now(), "flow refused: peer at its open-flow cap", "src", f.Src, "dst", f.Dst, "cap", g.maxFlows)
		ok = false
	}
	if !ok {
		g.mu.Unlock()
		f.Reset()
		return
	}
	p.flows[f] = upstream
	g.flowsTotal++
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		delete(p.flows, f)
		g.mu.Unlock()
	}()

	up, err := g.dialer.Dial("tcp", upstream)
	if err != nil {
		g.log.Warn("upstream unreachable", "app", p.app, "upstream", upstream, "err", err)
		f.Reset()
		return
	}
	defer up.Close()
	tunnel.Splice(f, up)
}

func parsePeer(pc api.PeerConfig) (*peer, error) {
	pub, err := tunnel.ParsePublicKey(pc.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("peer for app %q: %w", pc.App, err)
	}
	overlay, err := netip.ParseAddr(pc.OverlayAddr)
	if err != nil {
		return nil, fmt.Errorf("peer for app %q: overlay address: %w", pc.App, err)
	}
	p := &peer{pub: pub, overlay: overlay, app: pc.App, expires: time.Now().Add(time.Duration(pc.Lease)),
		dests: map[netip.AddrPort]string{}, flows: map[*tunnel.Flow]string{}}
	for _, d := range pc.Destinations {
		vaddr, err := netip.ParseAddrPort(d.VirtualAddr)
		if err != nil {
			return nil, fmt.Errorf("peer for app %q: destination %q: %w", pc.App, d.VirtualAddr, err)
		}
		p.dests[vaddr] = d.Upstream
	}
	return p, nil
}
