package socks5

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	socks "github.com/armon/go-socks5"

	"github.com/gatehouse-ztna/gatehouse/agent/frontend"
	"github.com/gatehouse-ztna/gatehouse/agent/localpeer"
	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/tunnel"
)

// dialWait bounds a dial through a tunnel.
const dialWait = 10 * time.Second

// handshakeWait bounds the SOCKS exchange before a flow is carried, so a
// client that connects and says nothing does not hold a goroutine.
const handshakeWait = 10 * time.Second

// NameSuffix is the domain under which an app is always also named:
// APP.gatehouse. The organisation's own Gatehouse domain, which the
// controller tells the agent (SetDomain), names it too: APP.corp.gatehouse.
const NameSuffix = "." + api.DefaultDNSDomain

// Config sets a Server up.
type Config struct {
	// Listen is host:port on a loopback address (127.0.0.1:1080,
	// [::1]:1080, localhost:1080); any other address is refused.
	Listen string
	// LocalUID is the one local account whose connections are served;
	// LocalUserName names it in messages.
	LocalUID      int
	LocalUserName string
	Logger        *slog.Logger
}

// Server is the SOCKS5 front-end.
type Server struct {
	cfg    Config
	access frontend.Access
	log    *slog.Logger
	libLog *log.Logger // the library's own lines, at debug level
	// handshakeWait is handshakeWait; tests shorten it.
	handshakeWait time.Duration
	l             net.Listener

	refusedCallers  atomic.Int64 // connections refused: not the device's user
	refusedRequests atomic.Int64 // SOCKS requests refused: not an app, not its port, not CONNECT

	mu      sync.Mutex            // guards the fields below
	apps    map[string][]uint16   // entitled apps' ports, by lower-case name
	vips    map[netip.Addr]string // entitled apps' lower-case names, by virtual IP
	domain  string                // the organisation's Gatehouse domain, lower case; "" until told
	started bool                  // the accept loop runs
	closed  bool
}

var _ frontend.Frontend = (*Server)(nil)

// Listen opens the SOCKS5 listener; flows are served from the first
// SetApps on. A non-loopback address is refused: the port would hand the
// device's access to whoever reaches it.
func Listen(cfg Config, access frontend.Access) (*Server, error) {
	if err := checkLoopback(cfg.Listen); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("--socks5 %s: %w; pick a free port", cfg.Listen, err)
	}
	// The library's own lines repeat what is logged here: debug only.
	libLog := slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug)
	return &Server{cfg: cfg, access: access, log: cfg.Logger, libLog: libLog, l: l, apps: map[string][]uint16{},
		handshakeWait: handshakeWait}, nil
}

// checkLoopback refuses a listen address that is not host:port on a
// loopback address.
func checkLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--socks5 %q: %w; give host:port, e.g. 127.0.0.1:1080", addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("--socks5 %q: port %q is not a port number", addr, port)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Unmap().IsLoopback() {
		return fmt.Errorf("--socks5 %q: only a loopback address (127.0.0.1, [::1], localhost) may serve SOCKS5: "+
			"elsewhere it would hand this device's access to other hosts", addr)
	}
	return nil
}

// Addr is the listener's address.
func (s *Server) Addr() string { return s.l.Addr().String() }

// SetApps implements frontend.Frontend: the apps listed are the only
// destinations from now on; flows are served until ctx ends.
func (s *Server) SetApps(ctx context.Context, apps []api.AppInfo) {
	m := make(map[string][]uint16, len(apps))
	vips := map[netip.Addr]string{}
	for _, a := range apps {
		name := strings.ToLower(a.Name)
		m[name] = append([]uint16(nil), a.Ports...)
		if ip, err := netip.ParseAddr(a.VirtualIP); err == nil {
			vips[ip.Unmap()] = name
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apps, s.vips = m, vips
	if !s.started && !s.closed {
		s.started = true
		s.log.Info("SOCKS5 front-end listening", "addr", s.Addr())
		go s.accept(ctx)
	}
}

// SetDomain makes APP.domain name an app from now on, besides APP and
// APP.gatehouse.
func (s *Server) SetDomain(domain string) {
	s.mu.Lock()
	s.domain = strings.ToLower(strings.Trim(domain, "."))
	s.mu.Unlock()
}

// LocalAddr implements frontend.Frontend: the SOCKS5 listener is no
// per-app-port address, so it names none.
func (s *Server) LocalAddr(string, uint16) string { return "" }

// Stats implements frontend.Frontend.
func (s *Server) Stats() frontend.Stats {
	return frontend.Stats{RefusedCallers: s.refusedCallers.Load(), RefusedRequests: s.refusedRequests.Load()}
}

// Close closes the listener; tracked flows end with their tunnels.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.l.Close()
}

func (s *Server) accept(ctx context.Context) {
	for {
		c, err := s.l.Accept()
		if err != nil {
			return
		}
		go s.serve(ctx, c.(*net.TCPConn))
	}
}

// lookup maps a requested host to an entitled app: APP, APP.gatehouse or
// APP.<the organisation's domain>, any case, with or without a final dot, or the app's
// virtual IP. Nothing else names an app: no other address, and no name
// is ever looked up in DNS, so DNS rebinding has nothing to rebind.
func (s *Server) lookup(host string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		name, ok := s.vips[ip.Unmap()]
		return name, ok
	}
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	suffixes := []string{NameSuffix}
	if s.domain != "" {
		suffixes = []string{"." + s.domain, NameSuffix} // the longer first: corp.gatehouse before gatehouse
	}
	for _, suffix := range suffixes {
		if strings.HasSuffix(name, suffix) {
			name = strings.TrimSuffix(name, suffix)
			break
		}
	}
	_, ok := s.apps[name]
	return name, ok && name != ""
}

// hasPort reports whether app serves port.
func (s *Server) hasPort(app string, port int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.apps[app] {
		if int(p) == port {
			return true
		}
	}
	return false
}

// flow is one SOCKS connection's state, shared by its hooks. The
// library runs them in order on one goroutine (ServeConn's).
type flow struct {
	s      *Server
	ctx    context.Context // the front-end's: tunnels are asked for under it
	client *net.TCPConn
	t      frontend.Tunnel // set by Allow
	port   uint16
	remote net.Conn // set by dial once tracked with client
	// remoteFailed: reading the tunnel side failed (not a clean end):
	// access ended, and the client must see a reset, not the FIN the
	// library's copy would send on its way out (clientConn).
	remoteFailed atomic.Bool
}

// clientConn is the caller's connection as the library sees it: once the
// tunnel side has failed, the library's half-close and close become a
// reset, so the caller learns that access ended even when the library's
// copy loop gets there before the tunnel's abort of this side.
type clientConn struct {
	*net.TCPConn
	f *flow
}

func (c clientConn) CloseWrite() error {
	if c.f.remoteFailed.Load() {
		return tunnel.Abort(c.TCPConn)
	}
	return c.TCPConn.CloseWrite()
}

func (c clientConn) Close() error {
	if c.f.remoteFailed.Load() {
		return tunnel.Abort(c.TCPConn)
	}
	return c.TCPConn.Close()
}

// serve answers one SOCKS connection once its caller is the device's user.
// The library hands its hooks a fresh context.Background, so each
// connection gets its own library server whose hooks close over the flow.
func (s *Server) serve(ctx context.Context, c *net.TCPConn) {
	if !s.callerAllowed(c) {
		c.Close()
		return
	}
	c.SetDeadline(time.Now().Add(s.handshakeWait))
	f := &flow{s: s, ctx: ctx, client: c}
	srv, err := socks.New(&socks.Config{Resolver: resolver{s}, Rules: f, Dial: f.dial, Logger: s.libLog})
	if err != nil {
		c.Close()
		return
	}
	srv.ServeConn(clientConn{c, f})
	if f.remote != nil {
		f.t.Untrack(c, f.remote)
	}
}

// callerAllowed reports whether the process calling on c runs as the
// device's local user; a refusal is counted and logged.
func (s *Server) callerAllowed(c *net.TCPConn) bool {
	uid, err := localpeer.Owner(c)
	if err == nil && uid == s.cfg.LocalUID {
		return true
	}
	s.refusedCallers.Add(1)
	if err != nil {
		s.log.Warn("SOCKS5 connection refused: cannot tell which local user is calling",
			"from", c.RemoteAddr().String(), "err", err)
		return false
	}
	s.log.Warn("SOCKS5 connection refused: the caller is another local user than the device's",
		"from", c.RemoteAddr().String(), "caller_uid", uid, "device_user", s.cfg.LocalUserName)
	return false
}

// refuse counts and logs a refused SOCKS request.
func (s *Server) refuse(dest, why string) {
	s.refusedRequests.Add(1)
	s.log.Warn("SOCKS5 request refused", "dest", dest, "why", why)
}

var errNotApp = errors.New("not an app of this user")

// resolver names apps only: anything else is "host unreachable", and no
// name ever goes to DNS.
type resolver struct{ s *Server }

func (r resolver) Resolve(ctx context.Context, name string) (context.Context, net.IP, error) {
	app, ok := r.s.lookup(name)
	if !ok {
		r.s.refuse(name, "the name is not an app of this user (APP, APP"+NameSuffix+" or APP.<the organisation's domain>)")
		return ctx, nil, errNotApp
	}
	// The address is never dialled (see Server.dial); the app rides in ctx.
	return context.WithValue(ctx, appKey{}, app), net.IPv4zero, nil
}

// appKey is the context key of the app a request's name resolved to.
type appKey struct{}

// Allow lets CONNECT to a resolved app on one of its ports through, once
// the agent holds a tunnel for it; a refusal is "not allowed by ruleset".
func (f *flow) Allow(ctx context.Context, req *socks.Request) (context.Context, bool) {
	s, dest := f.s, req.DestAddr.String()
	if req.Command != socks.ConnectCommand {
		s.refuse(dest, fmt.Sprintf("SOCKS command %d: only CONNECT is served", req.Command))
		return ctx, false
	}
	app, _ := ctx.Value(appKey{}).(string)
	if req.DestAddr.FQDN == "" {
		// An address: served only when it is an app's virtual IP.
		var ok bool
		if app, ok = s.lookup(req.DestAddr.IP.String()); !ok {
			s.refuse(dest, "an address that is no app's virtual IP: ask for the app by name (curl --socks5-hostname, socks5h://)")
			return ctx, false
		}
	}
	if app == "" { // unreachable: the resolver refuses names of no app
		s.refuse(dest, "not an app of this user")
		return ctx, false
	}
	if !s.hasPort(app, req.DestAddr.Port) {
		s.refuse(dest, fmt.Sprintf("port %d is not a port of app %s", req.DestAddr.Port, app))
		return ctx, false
	}
	t, err := s.access.Tunnel(f.ctx, app)
	if err != nil {
		// The agent logs the controller's reasons and keeps them for
		// `gatehouse apps`.
		s.log.Info("SOCKS5 request refused: no access to the app", "app", app, "err", err)
		return ctx, false
	}
	f.t, f.port = t, uint16(req.DestAddr.Port)
	return ctx, true
}

var errAccessEnded = errors.New("access to the app has ended")

// dial opens the allowed app port through its tunnel, whatever address the
// library passes (never a real one, see resolver), and registers the flow
// with the tunnel so that the end of access resets both ends.
func (f *flow) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	if f.t == nil {
		return nil, errAccessEnded // unreachable: Allow runs first
	}
	dctx, cancel := context.WithTimeout(f.ctx, dialWait)
	defer cancel()
	remote, err := f.t.Dial(dctx, f.port)
	if err != nil {
		f.s.log.Warn("SOCKS5 dial through tunnel failed", "port", f.port, "err", err)
		return nil, err
	}
	if !f.t.Track(f.client, remote) {
		remote.Close()
		return nil, errAccessEnded
	}
	f.remote = remote
	f.client.SetDeadline(time.Time{}) // the flow runs until it or access ends
	return hiddenAddrConn{remote, f}, nil
}

// hiddenAddrConn is a tunnel connection as the library sees it: its SOCKS
// reply names 0.0.0.0:0 as the bound address, not the tunnel's inner one;
// a read that fails other than by a clean end marks the flow's tunnel side
// failed.
type hiddenAddrConn struct {
	net.Conn
	f *flow
}

func (c hiddenAddrConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil && !errors.Is(err, io.EOF) {
		c.f.remoteFailed.Store(true)
	}
	return n, err
}

func (hiddenAddrConn) LocalAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4zero} }

// CloseWrite passes a half-close on, as the library does for TCP.
func (c hiddenAddrConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
