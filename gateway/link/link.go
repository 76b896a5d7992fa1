package link

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/gateway"
	"github.com/gatehouse-ztna/gatehouse/wire"
)

// Defaults of Config.
const (
	DefaultMinBackoff     = 100 * time.Millisecond
	DefaultMaxBackoff     = time.Second
	DefaultStatusInterval = 10 * time.Second
	pingInterval          = 15 * time.Second
	pingTimeout           = 5 * time.Second
	handshakeTimeout      = 10 * time.Second
)

// Config sets a link up.
type Config struct {
	// Controller is the controller's URL: https, or http to loopback only.
	Controller string
	// CAPEM is the controller CA the gateway enrolled with; the only trust.
	CAPEM     []byte
	GatewayID string
	Key       ed25519.PrivateKey
	Version   string
	Gateway   *gateway.Gateway
	Logger    *slog.Logger
	// MinBackoff and MaxBackoff bound the jittered wait between attempts.
	// A gateway's backoff tops out at 1 s (an agent's at 10 s): gateways
	// are few, and each second away is a second of grants it cannot take.
	MinBackoff, MaxBackoff time.Duration
}

// Link keeps one websocket to the controller up.
type Link struct {
	cfg  Config
	log  *slog.Logger
	http *http.Client

	mu        sync.Mutex // guards connected, lastErr and syncs
	connected bool
	lastErr   error
	syncs     int // full peer sets applied, for tests and status
}

// New checks cfg; Run does the work.
func New(cfg Config) (*Link, error) {
	if err := api.CheckControllerURL(cfg.Controller); err != nil {
		return nil, fmt.Errorf("%w; enroll the gateway again with an https controller URL", err)
	}
	if cfg.GatewayID == "" || len(cfg.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("gateway link: no gateway ID or key; run `gatehouse-gateway enroll` first")
	}
	if cfg.Gateway == nil {
		return nil, errors.New("gateway link: no gateway to drive")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(DefaultMaxBackoff, cfg.MinBackoff)
	}
	hc, err := httpClient(cfg.CAPEM)
	if err != nil {
		return nil, err
	}
	hc.Timeout = 0 // the websocket lives long; the dial has its own deadline
	return &Link{cfg: cfg, log: cfg.Logger, http: hc}, nil
}

// Connected reports whether the link is up, and the error that last ended
// or refused it.
func (l *Link) Connected() (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.connected, l.lastErr
}

// Syncs counts full peer sets applied since start.
func (l *Link) Syncs() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.syncs
}

// Run keeps the link up until ctx ends, reconnecting with jittered
// exponential backoff. Peers are left alone between connections.
func (l *Link) Run(ctx context.Context) {
	backoff := l.cfg.MinBackoff
	for ctx.Err() == nil {
		start := time.Now()
		err := l.connect(ctx)
		l.mu.Lock()
		l.connected = false
		if ctx.Err() == nil {
			l.lastErr = err
		}
		l.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > l.cfg.MaxBackoff {
			backoff = l.cfg.MinBackoff
		}
		sleep := backoff/2 + rand.N(backoff/2+1)
		l.log.Warn("controller link ended; peers live on until their leases end; reconnecting", "err", err, "in", sleep)
		select {
		case <-ctx.Done():
			return
		case <-time.After(sleep):
		}
		backoff = min(backoff*2, l.cfg.MaxBackoff)
	}
}

// connect dials, proves the key, and serves the controller until the
// connection ends.
func (l *Link) connect(ctx context.Context) error {
	dctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	ws, resp, err := websocket.Dial(dctx, l.cfg.Controller+api.GatewayWebsocketPath, &websocket.DialOptions{HTTPClient: l.http})
	cancel()
	if err != nil {
		return fmt.Errorf("reach controller at %s: %w", l.cfg.Controller, err)
	}
	c := wire.NewConn(ws, "controller") // reads held to api.MaxMessageBytes
	defer c.CloseNow()
	exporter, err := api.AuthExporter(resp.TLS)
	if err != nil {
		return err
	}
	var hello api.HelloMsg
	if err := c.ReadOne(ctx, api.TypeHello, &hello, handshakeTimeout); err != nil {
		return err
	}
	auth, err := wire.SignGatewayProof(l.cfg.Key, exporter, l.cfg.GatewayID, hello)
	if err != nil {
		return err
	}
	g := l.cfg.Gateway
	auth.Version, auth.Endpoint, auth.WireGuardKey = l.cfg.Version, g.Endpoint(), g.PublicKey()
	if err := c.Write(ctx, api.TypeGatewayAuth, auth); err != nil {
		return err
	}
	var welcome api.GatewayWelcomeMsg
	if err := c.ReadOne(ctx, api.TypeGatewayWelcome, &welcome, handshakeTimeout); err != nil {
		return err
	}
	l.mu.Lock()
	l.connected, l.lastErr = true, nil
	l.mu.Unlock()
	l.log.Info("connected to controller", "controller", l.cfg.Controller, "name", welcome.Name)

	ctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		stop()
		wg.Wait()
	}()
	interval := time.Duration(welcome.StatusInterval)
	if interval <= 0 {
		interval = DefaultStatusInterval
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.report(ctx, c, interval)
	}()
	return l.serve(ctx, c)
}

// report sends a status at once and then every interval, and pings the
// controller so a silent one is noticed; a failure ends the connection.
func (l *Link) report(ctx context.Context, c *wire.Conn, interval time.Duration) {
	defer c.CloseNow()
	status, ping := time.NewTicker(interval), time.NewTicker(pingInterval)
	defer status.Stop()
	defer ping.Stop()
	if err := c.Write(ctx, api.TypeGatewayStatus, l.status()); err != nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-status.C:
			if err := c.Write(ctx, api.TypeGatewayStatus, l.status()); err != nil {
				return
			}
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, pingTimeout)
			err := c.Ping(pctx)
			cancel()
			if err != nil {
				l.log.Warn("controller did not answer a ping; reconnecting", "err", err)
				return
			}
		}
	}
}

func (l *Link) status() api.GatewayStatus {
	st := l.cfg.Gateway.Stats()
	out := api.GatewayStatus{Version: l.cfg.Version, Peers: st.Peers, OpenFlows: st.OpenFlows, FlowsTotal: st.FlowsTotal,
		HalfOpen: st.SYN.HalfOpen, SYNDropped: st.SYN.Dropped, HandshakesTimedOut: st.SYN.TimedOut}
	for k, n := range st.PerPeer {
		out.PeerStats = append(out.PeerStats, api.GatewayPeerStat{PublicKey: k, OpenFlows: n})
	}
	sort.Slice(out.PeerStats, func(i, j int) bool {
		a, b := out.PeerStats[i], out.PeerStats[j]
		return a.OpenFlows > b.OpenFlows || (a.OpenFlows == b.OpenFlows && a.PublicKey < b.PublicKey)
	})
	if len(out.PeerStats) > api.MaxStatusPeers {
		out.PeerStats = out.PeerStats[:api.MaxStatusPeers]
	}
	return out
}

// serve applies the controller's requests in order, acking each.
func (l *Link) serve(ctx context.Context, c *wire.Conn) error {
	var sync []api.PeerConfig // pages of the set being received
	var syncID uint64
	next := 0 // the page expected next
	for {
		env, err := c.Read(ctx) // malformed or not, an error ends the connection
		if err != nil {
			return err
		}
		var ack api.PeerAck
		switch env.Type {
		case api.TypePeerSync:
			var m api.PeerSync
			if err := env.Decode(&m); err != nil {
				l.sendError(ctx, c, err)
				continue
			}
			if m.Page == 0 {
				sync, syncID, next = nil, m.ID, 0
			}
			if m.ID != syncID || m.Page != next {
				l.log.Warn("peer set page out of order; waiting for the next whole set", "id", m.ID, "page", m.Page)
				sync, next = nil, -1
				continue
			}
			sync, next = append(sync, m.Peers...), next+1
			if next < max(m.Pages, 1) {
				continue
			}
			ack = api.PeerAck{ID: m.ID, Error: l.applySet(ctx, sync)}
			sync, next = nil, -1
		case api.TypePeerAdd:
			var m api.PeerAdd
			if err := env.Decode(&m); err != nil {
				l.sendError(ctx, c, err)
				continue
			}
			ack = ackOf(m.ID, l.cfg.Gateway.AddPeer(ctx, m.Peer))
		case api.TypePeerRenew:
			var m api.PeerRenew
			if err := env.Decode(&m); err != nil {
				l.sendError(ctx, c, err)
				continue
			}
			ack = ackOf(m.ID, l.cfg.Gateway.RenewPeer(ctx, m.PublicKey, time.Duration(m.Lease)))
		case api.TypePeerRemove:
			var m api.PeerRemove
			if err := env.Decode(&m); err != nil {
				l.sendError(ctx, c, err)
				continue
			}
			ack = ackOf(m.ID, l.cfg.Gateway.RemovePeer(ctx, m.PublicKey))
		case api.TypeError:
			var e api.ErrorMsg
			env.Decode(&e)
			l.log.Warn("controller reports an error", "code", e.Code, "message", e.Message)
			continue
		default:
			l.sendError(ctx, c, fmt.Errorf("unknown message type %q", env.Type))
			continue
		}
		if err := c.Write(ctx, api.TypePeerAck, ack); err != nil {
			return err
		}
	}
}

// applySet makes the gateway hold exactly peers: each is installed (a
// held one updated in place, its flows kept), every other one removed
// (its flows reset). It returns the failures, joined, or "".
func (l *Link) applySet(ctx context.Context, peers []api.PeerConfig) string {
	g := l.cfg.Gateway
	want := make(map[string]bool, len(peers))
	for _, pc := range peers {
		want[pc.PublicKey] = true
	}
	// Removals first: a stale peer may still hold an overlay address the
	// controller has given to one of the wanted peers.
	var errs []string
	removed := 0
	for _, p := range g.Peers(ctx) {
		if !want[p.PublicKey] {
			if err := g.RemovePeer(ctx, p.PublicKey); err != nil && !errors.Is(err, gateway.ErrUnknownPeer) {
				errs = append(errs, err.Error())
			}
			removed++
		}
	}
	for _, pc := range peers {
		if err := g.AddPeer(ctx, pc); err != nil {
			errs = append(errs, err.Error())
		}
	}
	l.mu.Lock()
	l.syncs++
	l.mu.Unlock()
	l.log.Info("peer set applied", "peers", len(peers), "removed", removed, "errors", len(errs))
	return strings.Join(errs, "; ")
}

func (l *Link) sendError(ctx context.Context, c *wire.Conn, err error) {
	l.log.Warn("rejected message from controller", "err", err)
	c.Write(ctx, api.TypeError, api.ErrorMsg{Code: "bad_request", Message: err.Error()})
}

func ackOf(id uint64, err error) api.PeerAck {
	switch {
	case err == nil:
		return api.PeerAck{ID: id}
	case errors.Is(err, gateway.ErrUnknownPeer):
		return api.PeerAck{ID: id, Error: err.Error(), Code: api.CodeUnknownPeer}
	}
	return api.PeerAck{ID: id, Error: err.Error()}
}
