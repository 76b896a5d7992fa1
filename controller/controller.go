package controller

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/grants"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
	"github.com/gatehouse-ztna/gatehouse/controller/ipam"
	"github.com/gatehouse-ztna/gatehouse/controller/policy"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// Defaults a controller runs with when its Config leaves a field zero.
const (
	DefaultLeaseTTL          = 2 * time.Minute
	DefaultHeartbeatInterval = 30 * time.Second
	DefaultDNSDomain         = api.DefaultDNSDomain
)

// Config sets a controller up. Zero fields take the defaults above. How it
// is reached (listen address, TLS, limits on clients) is the transport's
// config (controller/httpapi).
type Config struct {
	// DataDir holds the database (and, for the transport, the CA).
	DataDir           string
	LeaseTTL          time.Duration
	HeartbeatInterval time.Duration
	// TrustPostureOverrides takes facts an agent's override file set as if
	// collected. For development and tests only: otherwise they are unknown.
	TrustPostureOverrides bool
	Logger                *slog.Logger

	// Agent links (see agentlink.go); zero fields take the defaults in
	// linklimits.go.
	//
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
	// Identity sets token lifetimes, password costs and sign-in backoff;
	// zero fields take identity's defaults.
	Identity identity.Config
	// MinAccess is the shortest just-in-time access one may ask for or
	// approve; zero is api.MinAccess (tests make it seconds).
	MinAccess time.Duration
	// WrapStore, when set, wraps the opened store (tests make it fail).
	WrapStore func(store.Store) store.Store
	// DNSDomain is the organisation's Gatehouse domain told to agents
	// (apps are APP.<DNSDomain>); empty is api.DefaultDNSDomain.
	DNSDomain string
}

// Controller is one running controller core: the admin objects, the
// agents' links and the grants decided for them, and the gateways they
// run on. It never sees HTTP: controller/httpapi serves it.
//
// The domain operations live on the components below, one per area; each
// takes the acting Actor, validates, writes, and returns the Change it
// made, which the controller commits (re-deciding grants, ending links).
type Controller struct {
	// Set by New and never replaced.
	Users           *Objects[api.User]
	Groups          *Objects[api.Group]
	Apps            *Objects[api.App]
	PostureProfiles *Objects[api.PostureProfile]
	Policies        *Objects[api.Policy]
	Members         *Members
	// Exceptions are waived posture checks; Explain says how a decision
	// is made (exceptions.go).
	Exceptions *Exceptions
	Explain    *Explainer
	Enrollment *Enrollment
	Devices    *Devices
	Gateways   *Gateways
	Auth       *AdminAuth
	// Admins are identity's admin operations (roles, API tokens,
	// sessions, users' sign-in state, settings).
	Admins *Admins
	// Requests are just-in-time access requests (requests.go).
	Requests *Requests
	// Identity is the identity room: sign-in, sessions, roles, device
	// state (controller/identity, docs/identity.md).
	Identity *identity.Service

	// PolicyFile is policy as code: export, plan and apply a policy file.
	PolicyFile *PolicyFiles

	cfg      Config
	log      *slog.Logger
	store    store.Store
	idStore  store.IdentityStore // the identity room's store, read for decisions
	excStore store.ExceptionStore
	upStore  store.UpstreamStore // read for the users' claims (reload)
	// expiries re-decides at each exception's expiry.
	expiries *expiryWatch
	idWork   identityWork // identity events and session lapses, for watchIdentity
	// identMu serialises reloadIdent's read-then-apply, so an older read
	// never overwrites a newer one. Taken before mu, never while holding it.
	identMu sync.Mutex
	grants  *grants.Manager // the live grants and the gateways online
	clock   clock           // link limits run on it

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
	links   map[string]*AgentLink   // by device ID
	idents  map[string]*deviceIdent // by device ID: identity facts of linked (and lately linked) devices
	posture map[string]postureEntry
	// asked holds, by device, the app names its agent asked for (newest
	// last, at most maxAsked): their decisions go out even when the user
	// is not entitled to them, so the agent can say why.
	asked map[string][]string
	// decisionSeq numbers decision sets in the order they were computed,
	// so a link never replaces a newer set with an older one.
	decisionSeq uint64

	edges decisionEdges // when each link's decision set next changes with the time (edges.go)

	cancel      context.CancelFunc
	unsubscribe func()         // from identity's events
	wg          sync.WaitGroup // the renewal loop and the identity watcher
}

// postureEntry is a device's latest report and when it arrived.
type postureEntry struct {
	report *api.PostureReport
	at     time.Time
}

// New opens (or creates) the data dir and store and starts renewing
// grants. Register the gateways (RegisterGateway), then serve it
// (controller/httpapi).
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
	cfg.DNSDomain = api.DNSDomainOrDefault(cfg.DNSDomain)
	if err := api.CheckDNSDomain(cfg.DNSDomain); err != nil {
		return nil, fmt.Errorf("--dns-domain: %w", err)
	}
	if err := cfg.linkDefaults(); err != nil {
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
	c := &Controller{cfg: cfg, log: cfg.Logger, store: wrapped, idStore: st, excStore: st, upStore: st, links: map[string]*AgentLink{},
		idents: map[string]*deviceIdent{}, posture: map[string]postureEntry{}, clock: realClock{},
		idWork: identityWork{ready: make(chan struct{}, 1)}}
	c.grants = newGrants(c, ipam.NewPool(cfg.OverlayPrefix))
	c.newObjects()
	c.PolicyFile = &PolicyFiles{store: wrapped, policy: st, writes: &c.adminMu, commit: c.commit, now: time.Now}
	c.Exceptions = &Exceptions{store: st, writes: &c.adminMu, commit: c.commit, now: time.Now}
	c.Explain = &Explainer{explain: c.explain}
	c.expiries = newExpiryWatch(c.clock, c.nextExpiry, c.redecideAll)
	c.Enrollment = &Enrollment{store: wrapped, writes: &c.adminMu, commit: c.commit, log: c.log, now: time.Now}
	idcfg := cfg.Identity
	idcfg.Directory = upstreamDirectory{c: c, st: st}
	c.Identity = identity.New(st, identity.SystemClock{}, idcfg, c.log)
	c.unsubscribe = c.Identity.Subscribe(c.onIdentityEvent)
	c.Devices = &Devices{store: wrapped, writes: &c.adminMu, commit: c.commit, live: c.liveDevices, grants: c.grants.List, identity: c.Identity}
	c.Auth = &AdminAuth{store: wrapped, identity: c.Identity, writes: &c.adminMu, commit: c.commit}
	c.Admins = &Admins{identity: c.Identity, user: wrapped.GetUser, writes: &c.adminMu, commit: c.commit, now: time.Now}
	if c.Gateways, err = newGateways(c, st); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.Auth.load(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.reload(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if cfg.MinAccess == 0 {
		cfg.MinAccess = api.MinAccess
	}
	c.Requests = newRequests(st, grants.SystemClock{}, accessDirectory{c}, c.redecideUser, c.commit,
		c.log.With("component", "requests"), cfg.MinAccess)
	if err := c.Requests.load(ctx); err != nil {
		c.Close()
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.wg.Add(3)
	go func() {
		defer c.wg.Done()
		c.renewLoop(runCtx)
	}()
	go func() {
		defer c.wg.Done()
		c.expiries.run(runCtx)
	}()
	go func() {
		defer c.wg.Done()
		c.watchIdentity(runCtx)
	}()
	return c, nil
}

// Close stops renewing, ends every agent link and closes the store. Close
// the transport first. Gateways belong to whoever registered them and are
// not closed.
func (c *Controller) Close() error {
	if c.Requests != nil {
		c.Requests.close()
	}
	if c.unsubscribe != nil {
		c.unsubscribe()
	}
	if c.cancel != nil {
		c.cancel()
	}
	c.DisconnectAgents("controller shutting down")
	c.wg.Wait()
	if c.grants != nil {
		c.grants.Stop()
	}
	c.stopDecisionEdges()
	return c.store.Close()
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
	exceptions, err := c.excStore.ListExceptions(ctx)
	if err != nil {
		return err
	}
	claims, err := c.upStore.UpstreamClaims(ctx)
	if err != nil {
		return err
	}
	snap := &policy.Snapshot{Users: map[string]api.User{}, Apps: map[string]api.App{},
		Profiles: map[string]api.PostureProfile{}, Policies: policies, Exceptions: exceptions, Claims: claims}
	for _, u := range users {
		snap.Users[u.Name] = u
	}
	for _, a := range apps {
		snap.Apps[a.Name] = a
	}
	for _, p := range profiles {
		snap.Profiles[p.Name] = p
	}
	snap.Compile()
	c.mu.Lock()
	c.snap = snap
	c.mu.Unlock()
	c.expiries.changed()
	return nil
}

// nextExpiry is the current snapshot's next exception expiry after now.
func (c *Controller) nextExpiry(now time.Time) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snap.NextExpiry(now)
}
