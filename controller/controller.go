package controller

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/netutil"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/grants"
	"github.com/gatehouse-ztna/gatehouse/controller/ipam"
	"github.com/gatehouse-ztna/gatehouse/controller/pki"
	"github.com/gatehouse-ztna/gatehouse/controller/policy"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// Defaults a controller runs with when its Config leaves a field zero.
const (
	DefaultLeaseTTL          = 2 * time.Minute
	DefaultHeartbeatInterval = 30 * time.Second
)

// Config sets a controller up. Zero fields take the defaults above.
type Config struct {
	DataDir string
	// Listen is the HTTPS address, e.g. ":8443".
	Listen string
	// InsecureHTTP serves plain HTTP; it is refused unless Listen is loopback.
	InsecureHTTP      bool
	LeaseTTL          time.Duration
	HeartbeatInterval time.Duration
	// PublicNames are the DNS names and addresses agents and admins reach
	// the controller at; the serving certificate covers them, the loopback
	// names and Listen's host. (Gateways are not configured here: whoever
	// runs one registers it with RegisterGateway.)
	PublicNames []string
	// Limits bound unauthenticated load; zero fields take DefaultLimits().
	Limits Limits
	// TrustPostureOverrides takes facts an agent's override file set as if
	// collected. For development and tests only: otherwise they are unknown.
	TrustPostureOverrides bool
	Logger                *slog.Logger

	// Agent links (see agentlink.go); zero fields take the defaults
	// there. PingInterval is how often a link is pinged and PingTimeout
	// how long its pong may take before the link is closed.
	PingInterval time.Duration
	PingTimeout  time.Duration
	// WriteTimeout bounds one write to an agent: one that stops reading
	// is disconnected after it.
	WriteTimeout time.Duration
	// PostureDecideInterval is the least time between two re-decisions
	// of one link's posture: a burst of reports is coalesced, its first
	// decided at once and its last never lost.
	PostureDecideInterval time.Duration
	// GrantRequestRate (per second) and GrantRequestBurst limit one
	// link's grant requests; one over the limit is denied with code
	// rate_limited and the link stays up.
	GrantRequestRate  float64
	GrantRequestBurst int
	// OverlayPrefix is where tunnels' overlay addresses come from; zero
	// is 100.64.0.0/12 (tests set a tiny one to run out).
	OverlayPrefix netip.Prefix
	// WrapStore, when set, wraps the opened store (tests make it fail).
	WrapStore func(store.Store) store.Store
}

// Controller is one running controller.
type Controller struct {
	cfg    Config
	log    *slog.Logger
	store  store.Store
	grants *grants.Manager // the live grants and the gateways online
	remote remoteGateways  // standalone gateways: their hub and enrollment
	clock  clock           // link limits run on it

	// adminHash is the SHA-256 of the admin token; rotation swaps it.
	adminHash      atomic.Pointer[[sha256.Size]byte]
	bootstrapToken string
	limits         Limits
	enrollLimit    *sourceLimiter
	authLimit      *sourceLimiter
	// adminMu serialises admin writes: validation reads the store (a free
	// virtual IP, the apps a policy names) and the write must see the same.
	adminMu sync.Mutex
	// policyStale is set when a saved change could not be loaded: decisions
	// would come from an old snapshot, so no grant is renewed until a
	// reload succeeds.
	policyStale atomic.Bool

	// mu guards snap through decisionSeq. It may be held while calling
	// the grant manager's Keys and List, never its other methods (they
	// call back into grantPolicy and the links, which take mu).
	mu      sync.Mutex
	snap    *policy.Snapshot
	links   map[string]*agentLink // by device ID
	posture map[string]postureEntry
	// asked holds, by device, the app names its agent asked for (newest
	// last, at most maxAsked): their decisions go out even when the user
	// is not entitled to them, so the agent can say why.
	asked map[string][]string
	// decisionSeq numbers decision sets in the order they were computed,
	// so a link never replaces a newer set with an older one.
	decisionSeq uint64

	ln     net.Listener
	http   *http.Server
	tls    bool
	cancel context.CancelFunc
	wg     sync.WaitGroup // the renewal loop
	linkW  sync.WaitGroup // agent link handlers (hijacked: Shutdown does not wait for them)
}

// postureEntry is a device's latest report and when it arrived.
type postureEntry struct {
	report *api.PostureReport
	at     time.Time
}

// New opens (or creates) the data dir and store, and listens. Register
// the gateways (RegisterGateway), then call Serve to accept requests.
func New(ctx context.Context, cfg Config) (*Controller, error) {
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.linkDefaults(); err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: %w", cfg.Listen, err)
	}
	if cfg.InsecureHTTP && !IsLoopback(host) {
		return nil, fmt.Errorf("plain HTTP is allowed only on loopback, not on %q: drop --insecure-http or listen on 127.0.0.1", cfg.Listen)
	}
	if err := checkPublicAddresses(cfg); err != nil {
		return nil, err
	}
	limits := cfg.Limits.withDefaults()
	if err := limits.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if err := tightenDataDir(cfg.DataDir, cfg.Logger); err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, filepath.Join(cfg.DataDir, "gatehouse.db"))
	if err != nil {
		return nil, err
	}
	var wrapped store.Store = st
	if cfg.WrapStore != nil {
		wrapped = cfg.WrapStore(st)
	}
	c := &Controller{cfg: cfg, log: cfg.Logger, store: wrapped, links: map[string]*agentLink{},
		posture:     map[string]postureEntry{},
		clock:       realClock{},
		limits:      limits,
		enrollLimit: newSourceLimiter("enrollment attempts", limits.Enroll, time.Now),
		authLimit:   newSourceLimiter("agent connections", limits.AgentAuth, time.Now)}
	c.grants = newGrants(c, ipam.NewPool(cfg.OverlayPrefix))
	if err := c.startRemoteGateways(st); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.start(ctx, host); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Controller) start(ctx context.Context, host string) error {
	if err := c.loadAdminToken(ctx); err != nil {
		return err
	}
	if err := c.reload(ctx); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.cfg.Listen, err)
	}
	ln = netutil.LimitListener(ln, c.limits.MaxConns)
	c.ln = ln
	c.http = &http.Server{Handler: c.Handler(),
		ReadHeaderTimeout: c.limits.ReadHeaderTimeout, ReadTimeout: c.limits.ReadTimeout,
		WriteTimeout: c.limits.WriteTimeout, IdleTimeout: c.limits.IdleTimeout,
		MaxHeaderBytes: c.limits.MaxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(c.log.Handler(), slog.LevelWarn)}
	if !c.cfg.InsecureHTTP {
		names := certNames(c.cfg, host)
		cert, err := pki.LoadOrCreate(c.cfg.DataDir, names)
		if err != nil {
			return err
		}
		c.log.Info("serving certificate", "names", names)
		c.http.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		c.ln = tls.NewListener(ln, c.http.TLSConfig)
		c.tls = true
	}
	runCtx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.renewLoop(runCtx)
	}()
	return nil
}

// Addr is the address the controller listens on.
func (c *Controller) Addr() net.Addr { return c.ln.Addr() }

// URL is the controller's base URL.
func (c *Controller) URL() string {
	scheme := "http"
	if c.tls {
		scheme = "https"
	}
	return scheme + "://" + c.ln.Addr().String()
}

// CAFile is the PEM file agents must trust, empty with plain HTTP.
func (c *Controller) CAFile() string {
	if !c.tls {
		return ""
	}
	return filepath.Join(c.cfg.DataDir, pki.CAFile)
}

// BootstrapToken is the admin token made at first start; empty afterwards.
// It exists only in memory and is shown once.
func (c *Controller) BootstrapToken() string { return c.bootstrapToken }

// Serve accepts requests until Close.
func (c *Controller) Serve() error {
	err := c.http.Serve(c.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops serving and ends every link. Gateways belong to whoever
// registered them and are not closed.
func (c *Controller) Close() error {
	if c.cancel != nil {
		c.cancel()
	}
	if c.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c.http.Shutdown(ctx)
		c.http.Close()
	}
	c.mu.Lock()
	for _, s := range c.links {
		s.close("controller shutting down")
	}
	c.mu.Unlock()
	c.wg.Wait()
	c.linkW.Wait()
	return c.store.Close()
}

// loadAdminToken makes the admin token on the first start (BootstrapToken
// hands it to whoever shows it once).
func (c *Controller) loadAdminToken(ctx context.Context) error {
	hash, err := c.store.AdminTokenHash(ctx)
	if errors.Is(err, store.ErrNotFound) {
		tok, err := c.newAdminToken(ctx)
		if err != nil {
			return err
		}
		c.bootstrapToken = tok
		return nil
	} else if err != nil {
		return err
	}
	b, err := hex.DecodeString(hash)
	if err != nil || len(b) != sha256.Size {
		return fmt.Errorf("stored admin token hash is corrupt (%v): make a new data dir or restore a backup", err)
	}
	c.adminHash.Store((*[sha256.Size]byte)(b))
	return nil
}

// newAdminToken makes a fresh admin token, stores its hash and makes it the
// only one accepted from now on.
func (c *Controller) newAdminToken(ctx context.Context) (string, error) {
	tok, err := newSecret("gha_")
	if err != nil {
		return "", err
	}
	if err := c.store.SetAdminTokenHash(ctx, hashSecret(tok)); err != nil {
		return "", err
	}
	h := sha256.Sum256([]byte(tok))
	c.adminHash.Store(&h)
	return tok, nil
}

func (c *Controller) isAdmin(token string) bool {
	h := sha256.Sum256([]byte(token))
	want := c.adminHash.Load()
	return want != nil && subtle.ConstantTimeCompare(h[:], want[:]) == 1
}

// reload rebuilds the policy snapshot from the store.
func (c *Controller) reload(ctx context.Context) error {
	users, err := c.store.ListUsers(ctx)
	if err != nil {
		return err
	}
	apps, err := c.store.ListApps(ctx)
	if err != nil {
		return err
	}
	profiles, err := c.store.ListProfiles(ctx)
	if err != nil {
		return err
	}
	policies, err := c.store.ListPolicies(ctx)
	if err != nil {
		return err
	}
	snap := &policy.Snapshot{Users: map[string]api.User{}, Apps: map[string]api.App{},
		Profiles: map[string]api.PostureProfile{}, Policies: policies}
	for _, u := range users {
		snap.Users[u.Name] = u
	}
	for _, a := range apps {
		snap.Apps[a.Name] = a
	}
	for _, p := range profiles {
		snap.Profiles[p.Name] = p
	}
	c.mu.Lock()
	c.snap = snap
	c.mu.Unlock()
	return nil
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
// the listen host when it is a specific one, the public names and the
// gateway host (the same machine, by the name agents know it).
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
