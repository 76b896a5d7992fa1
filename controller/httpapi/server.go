package httpapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/netutil"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller"
	"github.com/gatehouse-ztna/gatehouse/controller/pki"
)

// Defaults for agent links (Config fields of the same names).
const (
	DefaultPingInterval = 15 * time.Second
	DefaultPingTimeout  = 5 * time.Second
	DefaultWriteTimeout = 5 * time.Second
)

// Config sets a server up. Zero fields take the defaults.
type Config struct {
	// Listen is the HTTPS address, e.g. ":8443".
	Listen string
	// InsecureHTTP serves plain HTTP; it is refused unless Listen is loopback.
	InsecureHTTP bool
	// PublicNames are the DNS names and addresses agents and admins reach
	// the controller at; the serving certificate covers them, the loopback
	// names and Listen's host.
	PublicNames []string
	// DataDir is where the CA and serving certificate live: the
	// controller's data dir.
	DataDir string
	// Limits bound unauthenticated load; zero fields take DefaultLimits().
	Limits Limits
	Logger *slog.Logger

	// Agent links: PingInterval is how often a link is pinged and
	// PingTimeout how long its pong may take before the link is closed.
	PingInterval time.Duration
	PingTimeout  time.Duration
	// WriteTimeout bounds one write to an agent: one that stops reading
	// is disconnected after it.
	WriteTimeout time.Duration

	// SignIn sets the device flow and the sign-in pages up (signin.go).
	SignIn SignInConfig
}

// withDefaults fills cfg's zero fields and refuses nonsense, before
// anything is created.
func (cfg Config) withDefaults() (Config, error) {
	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return cfg, fmt.Errorf("listen address %q: %w", cfg.Listen, err)
	}
	if cfg.InsecureHTTP && !IsLoopback(host) {
		return cfg, fmt.Errorf("plain HTTP is allowed only on loopback, not on %q: drop --insecure-http or listen on 127.0.0.1", cfg.Listen)
	}
	if err := checkPublicAddresses(cfg); err != nil {
		return cfg, err
	}
	cfg.Limits = cfg.Limits.withDefaults()
	if err := cfg.Limits.validate(); err != nil {
		return cfg, err
	}
	if cfg.SignIn, err = cfg.SignIn.withDefaults(); err != nil {
		return cfg, err
	}
	for _, f := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"ping interval", &cfg.PingInterval, DefaultPingInterval},
		{"ping timeout", &cfg.PingTimeout, DefaultPingTimeout},
		{"write timeout", &cfg.WriteTimeout, DefaultWriteTimeout},
	} {
		if *f.v < 0 {
			return cfg, fmt.Errorf("%s %s is negative: leave it 0 for the default %s", f.name, *f.v, f.def)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}

// Check refuses a config New would refuse; call it before building the
// core, so a wrong flag leaves nothing behind (no data dir).
func (cfg Config) Check() error {
	_, err := cfg.withDefaults()
	return err
}

// Server serves one controller core over HTTP(S).
type Server struct {
	core        *controller.Controller
	cfg         Config
	log         *slog.Logger
	enrollLimit *sourceLimiter
	authLimit   *sourceLimiter
	signIn      *signIn // the device flow and the sign-in pages (signin.go)

	ln    net.Listener
	http  *http.Server
	tls   bool
	linkW sync.WaitGroup // agent link handlers (hijacked: Shutdown does not wait for them)
}

// New listens (TLS with a certificate from the data dir's CA unless
// InsecureHTTP) for core; call Serve to accept requests.
func New(core *controller.Controller, cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(cfg.Listen) // checked by withDefaults
	s := &Server{core: core, cfg: cfg, log: cfg.Logger,
		enrollLimit: newSourceLimiter("enrollment attempts", cfg.Limits.Enroll, time.Now),
		authLimit:   newSourceLimiter("agent connections", cfg.Limits.AgentAuth, time.Now)}
	if s.signIn, err = newSignIn(core, cfg.SignIn); err != nil {
		return nil, err
	}
	var tlsConfig *tls.Config
	if !cfg.InsecureHTTP {
		names := certNames(cfg, host)
		cert, err := pki.LoadOrCreate(cfg.DataDir, names)
		if err != nil {
			return nil, err
		}
		s.log.Info("serving certificate", "names", names)
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	ln = netutil.LimitListener(ln, cfg.Limits.MaxConns)
	s.ln = ln
	l := cfg.Limits
	s.http = &http.Server{Handler: s.routes(),
		ReadHeaderTimeout: l.ReadHeaderTimeout, ReadTimeout: l.ReadTimeout,
		WriteTimeout: l.WriteTimeout, IdleTimeout: l.IdleTimeout,
		MaxHeaderBytes: l.MaxHeaderBytes, TLSConfig: tlsConfig,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	if tlsConfig != nil {
		s.ln = tls.NewListener(ln, tlsConfig)
		s.tls = true
	}
	return s, nil
}

// routes is the controller's HTTP surface.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	// The doors open to anyone get a token bucket per source.
	mux.Handle("POST "+api.PathEnroll, s.enrollLimit.wrap(s.log.Warn, http.HandlerFunc(s.handleEnroll)))
	mux.Handle("POST "+api.GatewayEnrollPath, s.enrollLimit.wrap(s.log.Warn, http.HandlerFunc(s.handleGatewayEnroll)))
	mux.Handle("GET "+api.AgentWebsocketPath, s.authLimit.wrap(s.log.Warn, http.HandlerFunc(s.handleAgent)))
	mux.Handle("GET "+api.GatewayWebsocketPath, s.authLimit.wrap(s.log.Warn, http.HandlerFunc(s.handleGateway)))
	s.mountAdmin(mux)
	s.mountSignIn(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// URL is the controller's base URL.
func (s *Server) URL() string {
	scheme := "http"
	if s.tls {
		scheme = "https"
	}
	return scheme + "://" + s.ln.Addr().String()
}

// CAFile is the PEM file agents must trust, empty with plain HTTP.
func (s *Server) CAFile() string {
	if !s.tls {
		return ""
	}
	return filepath.Join(s.cfg.DataDir, pki.CAFile)
}

// Serve accepts requests until Close.
func (s *Server) Serve() error {
	err := s.http.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops serving, ends every agent link and waits for their
// handlers. The core stays open: close it after.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.http.Shutdown(ctx)
	err := s.http.Close()
	s.ln.Close() // when Serve never ran; a second close is harmless
	s.core.DisconnectAgents("controller shutting down")
	s.linkW.Wait()
	return err
}

// IsLoopback reports whether host is a loopback name or address.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkPublicAddresses refuses names that cannot go into a certificate.
func checkPublicAddresses(cfg Config) error {
	for _, n := range cfg.PublicNames {
		if err := ValidHost(n); err != nil {
			return fmt.Errorf("--public-name: %w", err)
		}
	}
	return nil
}

var dnsNameRE = regexp.MustCompile(`^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)*[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.?$`)

// ValidHost accepts an IP address or a DNS name (no port, no wildcard).
func ValidHost(h string) error {
	if h == "" {
		return fmt.Errorf("empty: give the DNS name or address agents reach this machine at")
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return nil
	}
	if len(h) > 253 || !dnsNameRE.MatchString(h) {
		return fmt.Errorf("%q is neither an IP address nor a DNS name (give a name like gatehouse.example.com or an address like 192.0.2.10, without a port)", h)
	}
	return nil
}

// certNames are the names the serving certificate must cover: loopback,
// the listen host when it is a specific one, and the public names (the
// embedded gateway's host among them: the same machine, by the name
// agents know it).
func certNames(cfg Config, listenHost string) []string {
	names := []string{"localhost", "127.0.0.1", "::1"}
	seen := map[string]bool{}
	for _, n := range names {
		seen[n] = true
	}
	add := func(n string) {
		n = strings.TrimSuffix(n, ".")
		if ip, err := netip.ParseAddr(n); n == "" || seen[n] || err == nil && ip.IsUnspecified() {
			return
		}
		seen[n] = true
		names = append(names, n)
	}
	add(listenHost)
	for _, n := range cfg.PublicNames {
		add(n)
	}
	return names
}
