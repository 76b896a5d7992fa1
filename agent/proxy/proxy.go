// Package proxy is the agent's proxy-mode front-end: a local TCP port per
// app port that brings the app's tunnel up on first use. Before it asks
// for a tunnel it checks who is calling (only the device's local user,
// see agent/localpeer) and, for HTTP, which site the request names (DNS
// rebinding); it paces writes to a slow reader so that an abort ends the
// flow at once; and every flow it carries is registered with the tunnel,
// which aborts it when access ends.
//
// Imported by package agent.
package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent/frontend"
	"github.com/gatehouse-ztna/gatehouse/agent/localpeer"
	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/tunnel"
)

// dialWait bounds a dial through a tunnel.
const dialWait = 10 * time.Second

// LocalUser is the one local account whose connections the ports serve.
type LocalUser struct {
	UID  int
	Name string // for messages: "alice (uid 1000)"
}

// Config sets a Proxy up.
type Config struct {
	// ListenHost is where ports listen, 127.0.0.1 in practice.
	ListenHost string
	// PortBase is the first local port tried; 0 picks free ports.
	PortBase int
	// Ports are the ports chosen before, by "app/port" (see PortKey),
	// tried first so an app keeps its local port across restarts; only
	// with PortBase.
	Ports map[string]int
	// SavePorts is called with every "app/port" → port choice that
	// changed, to remember it; only with PortBase.
	SavePorts func(map[string]int) error
	LocalUser LocalUser
	Logger    *slog.Logger
}

// Proxy is the proxy-mode front-end.
type Proxy struct {
	cfg    Config
	access frontend.Access
	log    *slog.Logger

	refusedCallers atomic.Int64 // local connections refused: not the device's user
	refusedHosts   atomic.Int64 // HTTP requests refused: Host names another site

	mu        sync.Mutex              // guards the fields below; never held while calling out (access, SavePorts)
	listeners map[string]net.Listener // by "app/port"
	ports     map[string]int          // remembered local ports, by "app/port"
	closed    bool
}

// New makes a proxy that asks access for tunnels.
func New(cfg Config, access frontend.Access) *Proxy {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ports := map[string]int{}
	for k, v := range cfg.Ports {
		ports[k] = v
	}
	return &Proxy{cfg: cfg, access: access, log: cfg.Logger, listeners: map[string]net.Listener{}, ports: ports}
}

var _ frontend.Frontend = (*Proxy)(nil)

// PortKey names one app port: "app/port".
func PortKey(app string, port uint16) string { return app + "/" + strconv.Itoa(int(port)) }

// SetApps opens a local port for every app port and closes those of apps
// that are gone.
func (p *Proxy) SetApps(ctx context.Context, apps []api.AppInfo) {
	want := map[string]appPort{}
	for _, app := range apps {
		for _, port := range app.Ports {
			want[PortKey(app.Name, port)] = appPort{app.Name, port}
		}
	}
	if saved := p.openPorts(ctx, want); saved != nil && p.cfg.SavePorts != nil {
		if err := p.cfg.SavePorts(saved); err != nil {
			p.log.Warn("save local ports", "err", err)
		}
	}
}

type appPort struct {
	app  string
	port uint16
}

// openPorts opens and closes ports to match want; it returns the
// remembered ports when a choice changed, else nil.
func (p *Proxy) openPorts(ctx context.Context, want map[string]appPort) map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	for key, l := range p.listeners {
		if _, ok := want[key]; !ok {
			l.Close()
			delete(p.listeners, key)
		}
	}
	changed := false
	for key, ap := range want {
		if p.listeners[key] != nil {
			continue
		}
		l, err := p.listenLocked(key)
		if err != nil {
			p.log.Warn("cannot open local port for app", "app", ap.app, "port", ap.port, "err", err)
			continue
		}
		p.listeners[key] = l
		if got := l.Addr().(*net.TCPAddr).Port; p.cfg.PortBase != 0 && p.ports[key] != got {
			p.ports[key] = got
			changed = true
		}
		p.log.Info("app reachable locally", "app", ap.app, "port", ap.port, "local", l.Addr().String())
		go p.accept(ctx, l, ap.app, ap.port)
	}
	if !changed {
		return nil
	}
	ports := make(map[string]int, len(p.ports))
	for k, v := range p.ports {
		ports[k] = v
	}
	return ports
}

// listenLocked opens key's remembered port, else the next free one from
// PortBase, else (PortBase 0) any free port.
func (p *Proxy) listenLocked(key string) (net.Listener, error) {
	listen := func(port int) (net.Listener, error) {
		return net.Listen("tcp", net.JoinHostPort(p.cfg.ListenHost, strconv.Itoa(port)))
	}
	if p.cfg.PortBase == 0 {
		return listen(0)
	}
	if port, ok := p.ports[key]; ok {
		if l, err := listen(port); err == nil {
			return l, nil
		}
	}
	taken := map[int]bool{}
	for k, port := range p.ports {
		if k != key {
			taken[port] = true
		}
	}
	for port := p.cfg.PortBase; port < p.cfg.PortBase+1000 && port < 65536; port++ {
		if taken[port] {
			continue
		}
		if l, err := listen(port); err == nil {
			return l, nil
		}
	}
	return nil, fmt.Errorf("no free port from %d", p.cfg.PortBase)
}

// LocalAddr implements frontend.Frontend.
func (p *Proxy) LocalAddr(app string, port uint16) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.listeners[PortKey(app, port)]; l != nil {
		return l.Addr().String()
	}
	return ""
}

// Stats implements frontend.Frontend.
func (p *Proxy) Stats() frontend.Stats {
	return frontend.Stats{RefusedCallers: p.refusedCallers.Load(), RefusedRequests: p.refusedHosts.Load()}
}

// Close closes every port; a later SetApps opens none.
func (p *Proxy) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for k, l := range p.listeners {
		l.Close()
		delete(p.listeners, k)
	}
}

func (p *Proxy) accept(ctx context.Context, l net.Listener, app string, port uint16) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go p.serve(ctx, c.(*net.TCPConn), app, port)
	}
}

// serve carries one local connection through the app's tunnel, once the
// caller is the device's user and its first bytes are not an HTTP request
// for another site: both are checked before a tunnel is asked for.
func (p *Proxy) serve(ctx context.Context, c *net.TCPConn, app string, port uint16) {
	if !p.callerAllowed(c, app) {
		c.Close()
		return
	}
	local := newLocalConn(c, newHostRule(app, c.LocalAddr().(*net.TCPAddr).AddrPort(), port),
		func() (int, error) { return localpeer.Unread(c) })
	local.onRefused = func(hc headCheck) { p.requestRefused(app, hc) }
	if hc := local.readHead(time.Now().Add(headWait)); hc.verdict == headRefused {
		p.requestRefused(app, hc) // counted before the client can see its 421
		local.refuse(hc)
		local.closeAfterRefusal()
		return
	}
	defer local.Close()
	t, err := p.access.Tunnel(ctx, app)
	if err != nil {
		p.log.Info("connection refused", "app", app, "err", err)
		return
	}
	dctx, cancel := context.WithTimeout(ctx, dialWait)
	remote, err := t.Dial(dctx, port)
	cancel()
	if err != nil {
		p.log.Warn("dial through tunnel failed", "app", app, "err", err)
		return
	}
	defer remote.Close()
	if !t.Track(local, remote) {
		return
	}
	defer t.Untrack(local, remote)
	tunnel.Splice(local, remote)
}

// callerAllowed reports whether the process calling on c runs as the
// device's local user; a refusal is counted and logged.
func (p *Proxy) callerAllowed(c *net.TCPConn, app string) bool {
	uid, err := localpeer.Owner(c)
	if err == nil && uid == p.cfg.LocalUser.UID {
		return true
	}
	p.refusedCallers.Add(1)
	if err != nil {
		p.log.Warn("local connection refused: cannot tell which local user is calling", "app", app,
			"from", c.RemoteAddr().String(), "err", err)
		return false
	}
	p.log.Warn("local connection refused: the caller is another local user than the device's", "app", app,
		"from", c.RemoteAddr().String(), "caller_uid", uid, "device_user", p.cfg.LocalUser.Name)
	return false
}

// requestRefused counts and logs a refused HTTP request head.
func (p *Proxy) requestRefused(app string, hc headCheck) {
	p.refusedHosts.Add(1)
	p.log.Warn("local HTTP request refused", "app", app, "why", hc.why)
}
