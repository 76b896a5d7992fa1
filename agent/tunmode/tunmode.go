package tunmode

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent/frontend"
	"github.com/gatehouse-ztna/gatehouse/agent/localpeer"
	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/tunnel"
)

// dialWait bounds bringing a tunnel up and dialling through it, the time
// a new connection's SYN may be held before it is refused.
const dialWait = 10 * time.Second

// DefaultName is the TUN interface's name unless told otherwise.
const DefaultName = "gh0"

// MTU of the TUN interface. The host's TCP ends in the agent's own
// netstack (tunnel.Terminator) and is relayed over the tunnel as a new
// flow, so no packet of this link ever rides WireGuard whole: its MTU
// need not be WireGuard's 1420 (the tunnels keep theirs). A large one
// lets the kernel and the terminator exchange ~64 KB segments instead of
// ~1.4 KB ones, ~45× fewer packets through the netstack; with 1420 that
// per-packet cost was the agent's largest (BenchmarkTUNThroughput: agent
// CPU per GB 15 → 9 s upload, 12.6 → 10.5 s download).
const MTU = 65000

// SourceAddr is the TUN interface's address, the source of the local
// user's connections to the apps. A second rule sends lookups from it to
// the table, so that the kernel's reverse-path check (rp_filter, which
// looks up as root, not as the user) finds the replies' source routed
// via the interface; any other user's socket bound to it is still refused
// by its owner (see TUN.serve). Link-local, so it collides with no app or
// overlay address.
var SourceAddr = netip.MustParseAddr("169.254.53.8")

// Config sets a TUN front-end up.
type Config struct {
	// Name of the interface; empty is DefaultName. A leftover of that name
	// (an agent that crashed) is removed first, with its routes and rule.
	Name string
	// UID is the only local user whose traffic is routed to the interface.
	UID    int
	Logger *slog.Logger
}

// TUN is the TUN-mode front-end.
type TUN struct {
	cfg    Config
	access frontend.Access
	log    *slog.Logger
	link   *link
	term   *tunnel.Terminator

	refused atomic.Int64 // flows refused: no such app or port, or access refused

	mu     sync.Mutex             // guards the fields below; never held while calling out (access, ip)
	apps   map[netip.Addr]appInfo // by virtual IP
	ctx    context.Context        // flows run until it ends (SetApps's)
	closed bool
}

type appInfo struct {
	name    string
	ports   []uint16
	blocked bool   // the controller denies it: an unreachable route
	why     string // the denial's reasons, for the log
}

var _ frontend.Frontend = (*TUN)(nil)

// New creates the interface and its routing rule; it needs CAP_NET_ADMIN.
func New(cfg Config, access frontend.Access) (*TUN, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	l, dev, err := openLink(cfg.Name, cfg.UID, MTU, cfg.Logger)
	if err != nil {
		return nil, err
	}
	t := &TUN{cfg: cfg, access: access, log: cfg.Logger, link: l, apps: map[netip.Addr]appInfo{}, ctx: context.Background()}
	if t.term, err = tunnel.NewTerminator(dev, t.serve); err != nil {
		dev.Close()
		l.remove()
		return nil, err
	}
	cfg.Logger.Info("TUN mode on", "interface", l.name, "uid", cfg.UID)
	return t, nil
}

// SetApps routes the virtual IP of every listed app to the interface,
// withdraws the routes of the others, and gives each app the controller
// denies an unreachable route instead: its connections fail at once ("no
// route to host") without waking the agent, and it is routed again when a
// decision allows it.
func (t *TUN) SetApps(ctx context.Context, apps []api.AppInfo) {
	want := map[netip.Addr]appInfo{}
	for _, a := range apps {
		ip, err := netip.ParseAddr(a.VirtualIP)
		if err != nil {
			t.log.Warn("app has no virtual IP; not reachable in TUN mode (controller too old?)", "app", a.Name)
			continue
		}
		info := appInfo{name: a.Name, ports: slices.Clone(a.Ports)}
		if d, ok := t.access.Decision(a.Name); ok && !d.Allowed {
			info.blocked, info.why = true, api.ReasonsText(d.Reasons)
		}
		want[ip] = info
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	var set, del []netip.Addr
	for ip, a := range want {
		if had, ok := t.apps[ip]; !ok || had.blocked != a.blocked || had.why != a.why {
			set = append(set, ip)
		}
	}
	for ip := range t.apps {
		if _, ok := want[ip]; !ok {
			del = append(del, ip)
		}
	}
	t.apps, t.ctx = want, ctx
	t.mu.Unlock()
	for _, ip := range del {
		if err := t.link.delRoute(ip); err != nil {
			t.log.Warn("withdraw app route", "ip", ip, "err", err)
		}
	}
	for _, ip := range set {
		a := want[ip]
		if a.blocked {
			if err := t.link.blockRoute(ip); err != nil {
				t.log.Warn("block app route", "ip", ip, "err", err)
				continue
			}
			t.log.Info("TUN route blocked: no access to the app", "app", a.name, "ip", ip, "interface", t.link.name, "reason", a.why)
			continue
		}
		if err := t.link.addRoute(ip); err != nil {
			t.log.Warn("add app route", "ip", ip, "err", err)
			continue
		}
		t.log.Info("app routed to TUN", "app", a.name, "ip", ip, "interface", t.link.name)
	}
}

// serve relays one new flow: refused (reset) unless its destination is a
// listed app's port and the app's tunnel admits it.
func (t *TUN) serve(q *tunnel.FlowRequest) {
	// The uid rule routes only the device user's traffic here, but any
	// user may bind a socket to the interface (SO_BINDTODEVICE) and the
	// kernel then sends on-link without a route: the socket's owner
	// decides.
	if uid, err := localpeer.SocketOwner(q.Src, q.Dst); err != nil || uid != t.cfg.UID {
		t.refused.Add(1)
		t.log.Warn("TUN flow refused: not the device's local user", "src", q.Src, "dst", q.Dst, "uid", uid, "err", err)
		q.Refuse()
		return
	}
	t.mu.Lock()
	app, ok := t.apps[q.Dst.Addr()]
	ctx := t.ctx
	t.mu.Unlock()
	if !ok || !slices.Contains(app.ports, q.Dst.Port()) {
		t.refused.Add(1)
		q.Refuse()
		return
	}
	dctx, cancel := context.WithTimeout(ctx, dialWait)
	defer cancel()
	tn, err := t.access.Tunnel(dctx, app.name)
	if err != nil {
		t.refused.Add(1)
		// err carries the controller's reasons, the text the user reads.
		t.log.Warn("TUN flow refused: no access to the app", "app", app.name, "dst", q.Dst, "reason", err)
		q.Refuse()
		return
	}
	up, err := tn.Dial(dctx, q.Dst.Port())
	if err != nil {
		t.refused.Add(1)
		t.log.Info("TUN flow refused: dial through tunnel", "app", app.name, "err", err)
		q.Refuse()
		return
	}
	f, err := q.Accept()
	if err != nil {
		up.Close()
		return
	}
	if !tn.Track(f, up) {
		tunnel.Abort(f)
		tunnel.Abort(up)
		return
	}
	tunnel.Splice(f, up)
	tn.Untrack(f, up)
}

// LocalAddr is the app's virtual IP and port while it is routed here.
func (t *TUN) LocalAddr(app string, port uint16) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	for ip, a := range t.apps {
		if a.name == app && slices.Contains(a.ports, port) {
			return netip.AddrPortFrom(ip, port).String()
		}
	}
	return ""
}

// Stats counts refused flows as refused callers (not the device's user,
// no such app or port, no access).
func (t *TUN) Stats() frontend.Stats { return frontend.Stats{RefusedCallers: t.refused.Load()} }

// Close removes the interface, its routes and its rule.
func (t *TUN) Close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	t.mu.Unlock()
	t.term.Close()
	if err := t.link.remove(); err != nil {
		t.log.Warn("remove TUN routes", "err", err)
	}
}

// Name is the interface's name.
func (t *TUN) Name() string { return t.link.name }

func errLinuxOnly() error {
	return fmt.Errorf("TUN mode is available on Linux only; use the local proxy ports")
}
