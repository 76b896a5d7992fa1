package agent

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent/controlclient"
	"github.com/gatehouse-ztna/gatehouse/agent/frontend"
	"github.com/gatehouse-ztna/gatehouse/agent/keystore"
	"github.com/gatehouse-ztna/gatehouse/agent/proxy"
	"github.com/gatehouse-ztna/gatehouse/agent/socks5"
	"github.com/gatehouse-ztna/gatehouse/agent/tunmode"
	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/posture"
)

// Version is the agent's version, reported in posture.
const Version = "0.1.0"

// Config sets an agent up. Zero fields take sensible defaults.
type Config struct {
	StateDir string
	Secrets  keystore.Store
	Posture  posture.Source
	// PostureWatch, when set, runs for the agent's life and calls changed
	// whenever a fact may have changed: the agent re-collects at once and
	// sends the report if it differs from the last one sent.
	PostureWatch func(ctx context.Context, changed func()) error
	// CollectInterval is how often facts are re-read; default 1 s. With a
	// PostureWatch this poll is the fallback for the facts no event
	// covers.
	CollectInterval time.Duration
	// ListenHost is where app proxy ports listen; default 127.0.0.1.
	ListenHost string
	// PortBase is the first local proxy port tried; 0 picks free ports.
	PortBase int
	// Socket is the local API's unix socket path; empty serves none.
	Socket string
	// LocalUser is the only local user (a name or a numeric uid) whose
	// connections the proxy ports serve; empty: the user recorded at
	// enrollment, else the user running the agent.
	LocalUser string
	Logger    *slog.Logger
	// TUN, when set, also serves the apps on a TUN interface, routed for
	// the local user alone (TUN mode, Linux; see agent/tunmode).
	TUN *TUNConfig
	// Clock times leases; nil is the system clock.
	Clock Clock
	// SOCKS5 is a loopback host:port for the SOCKS5 front-end (see
	// agent/socks5); empty serves none.
	SOCKS5 string
	// TunnelIdle is how long an app tunnel with no open flow is kept
	// before the agent closes it and releases its grant, returning its
	// memory; the next flow asks for a grant again. 0 keeps every tunnel
	// for as long as its lease is renewed. Exports are never released.
	TunnelIdle time.Duration
}

// Agent is one running device agent.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	clock   Clock // leases are timed on it
	control *controlclient.Client
	hc      *http.Client   // the controller's HTTPS (CA-pinned); no overall timeout
	sess    session        // the signed-in session; its own lock
	bg      sync.WaitGroup // background work started by requests (a sign-in's polling)

	postureNow   chan struct{} // send a report at once, changed or not
	postureCheck chan struct{} // re-collect at once; send if changed

	localUser localUser
	front     frontend.Frontend // the local proxy ports, with the TUN interface in TUN mode
	tunName   string            // the TUN interface's name; "" outside TUN mode
	dns       *splitDNS         // TUN mode's resolver; nil without one
	socks     *socks5.Server    // nil without SOCKS5

	requests accessRequests // just-in-time access requests waiting for their answer

	watch changes // tells the local API's watch streams of changes (watch.go); its own lock

	freeMemory atomic.Bool // a return of freed memory to the OS is scheduled (idle.go)

	postureMu  sync.Mutex // one report at a time; guards the two below; taken before mu
	lastSent   api.PostureReport
	lastSentAt time.Time

	// mu guards the fields below. Order: postureMu, then mu, then an
	// appTunnel's mu; mu is never held while calling the control client's
	// sends or the front-end.
	mu        sync.Mutex
	st        State
	heartbeat time.Duration
	query     api.PostureQuery
	report    *api.PostureReport
	apps      []api.AppInfo
	decisions map[string]api.Decision
	checks    []api.CheckResult
	tunnels   map[string]*appTunnel
	pending   map[string]*inflight
	exports   map[string]*export // by app: grants handed out as WireGuard configs (export.go)
	domain    string             // the organisation's Gatehouse DNS domain, as the controller said
	stopped   bool
	runCtx    context.Context // Run's context, nil before Run: background work lives within it

	// watchTiming paces the local API's watch streams (watch.go), under
	// mu too; tests shorten it.
	watchTiming watchTiming
}

// New loads the enrolled state and device key.
func New(cfg Config) (*Agent, error) {
	if cfg.CollectInterval == 0 {
		cfg.CollectInterval = time.Second
	}
	if cfg.ListenHost == "" {
		cfg.ListenHost = "127.0.0.1"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = systemClock{}
	}
	if cfg.Posture == nil {
		return nil, errors.New("agent needs a posture source")
	}
	st, err := LoadState(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	if err := checkControllerURL(st.Controller); err != nil {
		return nil, err
	}
	key, err := cfg.Secrets.Get(deviceKeyName)
	if err != nil {
		return nil, fmt.Errorf("device key: %w (enroll again)", err)
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("device key in %s is corrupt (enroll again)", cfg.Secrets.Where())
	}
	var caPEM []byte
	if st.CAFile != "" {
		if caPEM, err = os.ReadFile(st.CAFile); err != nil {
			return nil, fmt.Errorf("controller CA: %w", err)
		}
	}
	hc, err := httpClient(caPEM)
	if err != nil {
		return nil, err
	}
	hc.Timeout = 0 // websockets live long
	if st.LocalPorts == nil {
		st.LocalPorts = map[string]int{}
	}
	// The local user: the flag's, else the one recorded at enrollment,
	// else the one running the agent.
	lu := currentLocalUser()
	switch {
	case cfg.LocalUser != "":
		if lu, err = lookupLocalUser(cfg.LocalUser); err != nil {
			return nil, err
		}
	case st.LocalUID != nil:
		lu = localUserByUID(*st.LocalUID)
	}
	a := &Agent{cfg: cfg, log: cfg.Logger, clock: cfg.Clock, st: st, localUser: lu, hc: hc,
		postureNow: make(chan struct{}, 1), postureCheck: make(chan struct{}, 1), heartbeat: 30 * time.Second, decisions: map[string]api.Decision{},
		tunnels: map[string]*appTunnel{}, pending: map[string]*inflight{}, exports: map[string]*export{}, domain: api.DefaultDNSDomain,
		watchTiming: defaultWatchTiming}
	a.front = proxy.New(proxy.Config{ListenHost: cfg.ListenHost, PortBase: cfg.PortBase, Ports: st.LocalPorts,
		SavePorts: a.savePorts, LocalUser: proxy.LocalUser{UID: lu.uid, Name: lu.name}, Logger: cfg.Logger}, (*access)(a))
	fronts := frontends{a.front}
	if cfg.TUN != nil {
		t, err := tunmode.New(tunmode.Config{Name: cfg.TUN.Name, UID: lu.uid, Logger: cfg.Logger}, (*access)(a))
		if err != nil {
			fronts.Close()
			return nil, fmt.Errorf("TUN mode: %w", err)
		}
		fronts = append(fronts, t)
		a.tunName = t.Name()
		if !cfg.TUN.NoDNS {
			if a.dns, err = newSplitDNS(context.Background(), t.Name(), tunmode.SourceAddr, cfg.Logger); err != nil {
				fronts.Close()
				return nil, fmt.Errorf("TUN mode: %w", err)
			}
			// Before the TUN: closed while its link still exists, so
			// resolved's per-link setting is reverted, not orphaned.
			fronts = slices.Insert(fronts, 1, frontend.Frontend(a.dns))
		}
	}
	if cfg.SOCKS5 != "" {
		s, err := socks5.Listen(socks5.Config{Listen: cfg.SOCKS5, LocalUID: lu.uid, LocalUserName: lu.name, Logger: cfg.Logger}, (*access)(a))
		if err != nil {
			fronts.Close()
			return nil, err
		}
		fronts = append(fronts, s)
		a.socks = s
	}
	if len(fronts) > 1 {
		a.front = fronts
	}
	a.loadSession()
	a.control = controlclient.New(controlclient.Config{Controller: st.Controller, DeviceID: st.DeviceID, DeviceKey: key,
		HTTPClient: hc, AccessToken: a.accessToken, Logger: cfg.Logger, Changed: a.stateChanged}, (*controlHandler)(a))
	return a, nil
}

// Run works until ctx ends: the control connection (reconnecting with
// jittered backoff), posture reports, the front-end and the local API.
func (a *Agent) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.mu.Lock()
	a.runCtx = ctx
	a.mu.Unlock()
	var wg sync.WaitGroup
	run := func(f func(context.Context)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(ctx)
		}()
	}
	if a.cfg.Socket != "" {
		srv, err := a.serveLocalAPI(a.cfg.Socket)
		if err != nil {
			return err
		}
		run(func(ctx context.Context) {
			<-ctx.Done()
			srv.Close()
		})
	}
	if a.cfg.PostureWatch != nil {
		run(func(ctx context.Context) {
			if err := a.cfg.PostureWatch(ctx, a.postureMayHaveChanged); err != nil && ctx.Err() == nil {
				a.log.Warn("posture watch stopped", "err", err)
			}
		})
	}
	run(a.postureLoop)
	run(a.control.Run)
	<-ctx.Done()
	a.shutdown()
	wg.Wait()
	a.bg.Wait()
	return nil
}

// PostureChanged asks for a report at once.
func (a *Agent) PostureChanged() {
	select {
	case a.postureNow <- struct{}{}:
	default:
	}
}

// postureMayHaveChanged asks for a re-collection at once; the report goes
// out only if it differs, so a watcher's spurious events cost a collection,
// never a message to the controller.
func (a *Agent) postureMayHaveChanged() {
	select {
	case a.postureCheck <- struct{}{}:
	default:
	}
}

// shutdown closes the front-end and every tunnel; a grant that arrives after
// it is not brought up.
func (a *Agent) shutdown() {
	a.front.Close()
	a.sess.mu.Lock()
	if a.sess.timer != nil {
		a.sess.timer.Stop()
	}
	a.sess.mu.Unlock()
	a.mu.Lock()
	a.stopped = true
	tunnels := make([]*appTunnel, 0, len(a.tunnels))
	for _, t := range a.tunnels {
		tunnels = append(tunnels, t)
	}
	a.mu.Unlock()
	for _, t := range tunnels {
		a.detach(t)
	}
}

// savePorts remembers the front-end's local port choices.
func (a *Agent) savePorts(ports map[string]int) error {
	a.mu.Lock()
	a.st.LocalPorts = ports
	st := a.st
	a.mu.Unlock()
	return saveState(a.cfg.StateDir, st)
}

// postureLoop re-collects every CollectInterval and when the watcher says
// a fact may have changed, and sends a report when a fact changed or the
// heartbeat is due; and sends one at once when asked to.
func (a *Agent) postureLoop(ctx context.Context) {
	t := time.NewTicker(a.cfg.CollectInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if a.control.Connected() {
				a.reportPostureChange(ctx, a.control)
			}
		case <-a.postureCheck:
			if a.control.Connected() {
				a.reportPostureChange(ctx, a.control)
			}
		case <-a.postureNow:
			if a.control.Connected() {
				a.sendPosture(ctx, a.control)
			}
		}
	}
}

// reportPostureChange collects, and sends a report through to when a fact
// changed or the heartbeat is due.
func (a *Agent) reportPostureChange(ctx context.Context, to controlclient.Sender) error {
	a.postureMu.Lock()
	defer a.postureMu.Unlock()
	rep := a.collectLocked(ctx)
	a.mu.Lock()
	hb := a.heartbeat
	a.mu.Unlock()
	if samePosture(rep, a.lastSent) && time.Since(a.lastSentAt) < hb {
		return nil
	}
	return a.sendLocked(ctx, to, rep)
}

// sendPosture collects and sends a report through to, changed or not.
func (a *Agent) sendPosture(ctx context.Context, to controlclient.Sender) error {
	a.postureMu.Lock()
	defer a.postureMu.Unlock()
	return a.sendLocked(ctx, to, a.collectLocked(ctx))
}

// collectLocked collects a report and keeps it for `gatehouse posture`;
// postureMu is held.
func (a *Agent) collectLocked(ctx context.Context) api.PostureReport {
	a.mu.Lock()
	q := a.query
	a.mu.Unlock()
	rep := a.cfg.Posture.Collect(ctx, q)
	rep.AgentVersion = Version
	if rep.CollectedAt.IsZero() {
		rep.CollectedAt = time.Now()
	}
	a.mu.Lock()
	changed := a.report == nil || !samePosture(*a.report, rep)
	a.report = &rep
	a.mu.Unlock()
	if changed {
		a.stateChanged()
	}
	return rep
}

// sendLocked sends rep through to and remembers it as the last sent;
// postureMu is held.
func (a *Agent) sendLocked(ctx context.Context, to controlclient.Sender, rep api.PostureReport) error {
	if err := to.SendPosture(ctx, rep); err != nil {
		return err
	}
	a.lastSent, a.lastSentAt = rep, time.Now()
	return nil
}

// samePosture ignores the facts that change on their own every second.
func samePosture(a, b api.PostureReport) bool {
	a.CollectedAt, b.CollectedAt = time.Time{}, time.Time{}
	a.UptimeSeconds, b.UptimeSeconds = api.IntFact{}, api.IntFact{}
	return reflect.DeepEqual(a, b)
}
