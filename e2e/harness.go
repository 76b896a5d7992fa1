// Package e2e is the end-to-end harness: a real controller, its gateway,
// real upstream apps and real agents in one process, on loopback, with real
// WireGuard, TLS and SQLite. Tests read like a script:
//
//	env := e2e.New(t)
//	a := env.Agent(t, "alice")
//	a.Get("grafana")
//	a.SetPosture(`{"disk_encryption": false}`)
//
// Imported only by tests and benchmarks.
package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent"
	"github.com/gatehouse-ztna/gatehouse/agent/keystore"
	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
	"github.com/gatehouse-ztna/gatehouse/controller"
	"github.com/gatehouse-ztna/gatehouse/controller/httpapi"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
	"github.com/gatehouse-ztna/gatehouse/gateway"
	"github.com/gatehouse-ztna/gatehouse/posture"
	"github.com/gatehouse-ztna/gatehouse/tunnel"
)

// Options change the controller's timing for a test.
type Options struct {
	LeaseTTL          time.Duration
	HeartbeatInterval time.Duration
	// Verbose sends controller, gateway and agent logs to the test log.
	Verbose bool
	// StrictPosture makes the controller distrust override files, as in
	// production; by default tests flip posture through them.
	StrictPosture bool
	// Controller, when set, changes the controller's config before it
	// starts; RestartController keeps the changed config.
	Controller func(*controller.Config)
	// Server, when set, changes the config of the controller's HTTP
	// server (controller/httpapi) in the same way.
	Server func(*httpapi.Config)
}

// Env is one running installation.
type Env struct {
	// Ctrl is the controller's core; Server serves it (URL, CA file).
	Ctrl    *controller.Controller
	Server  *httpapi.Server
	Gateway *gateway.Gateway
	// Remotes are the standalone gateways a test started (RemoteGateway),
	// by name.
	Remotes map[string]*gateway.Gateway
	Link    *Link
	// Admin acts as the first owner (OwnerName) with AdminToken, the
	// owner API token New made by bootstrapping.
	Admin      *adminclient.Client
	AdminToken string
	Log        *slog.Logger
	// Logs holds everything the controller, gateway and agents logged.
	Logs *LogBuffer
	dir  string
	cfg  controller.Config
	srv  httpapi.Config
	// stop stops the running controller's server and core, once.
	stop func() error
}

// New starts a controller with TLS and SQLite in a temp dir, and a gateway
// driven through a Link the test can cut.
func New(t testing.TB, opts Options) *Env {
	t.Helper()
	dir := t.TempDir()
	logs := &LogBuffer{}
	var w io.Writer = logs
	if opts.Verbose || os.Getenv("GATEHOUSE_E2E_VERBOSE") != "" {
		w = io.MultiWriter(logs, testWriter{t})
	}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
	gwKey, err := tunnel.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gateway.Config{PrivateKey: gwKey, PublicHost: "127.0.0.1", Logger: log.With("component", "gateway")})
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	link := &Link{Enforcer: gw}
	cfg := controller.Config{
		DataDir:  filepath.Join(dir, "controller"),
		LeaseTTL: opts.LeaseTTL, HeartbeatInterval: opts.HeartbeatInterval,
		Logger:                log.With("component", "controller"),
		TrustPostureOverrides: !opts.StrictPosture,
	}
	cfg.Identity.Password = fastPasswords
	if opts.Controller != nil {
		opts.Controller(&cfg)
	}
	srv := httpapi.Config{Listen: "127.0.0.1:0", Logger: cfg.Logger}
	if opts.Server != nil {
		opts.Server(&srv)
	}
	e := &Env{Gateway: gw, Link: link, Log: log, Logs: logs, dir: dir, cfg: cfg, srv: srv}
	t.Cleanup(func() { gw.Close() }) // after the controller's cleanup
	e.startController(t, "")
	ca, err := os.ReadFile(e.Server.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	boot, err := adminclient.New(e.Server.URL(), e.Ctrl.Auth.BootstrapToken(), ca)
	if err != nil {
		t.Fatal(err)
	}
	// The bootstrap token only makes the first owner; the tests act with
	// the owner's API token, as an admin would.
	res, err := boot.Bootstrap(context.Background(), api.BootstrapRequest{User: OwnerName, Password: OwnerPassword})
	if err != nil {
		t.Fatalf("bootstrap the first owner: %v", err)
	}
	e.AdminToken = res.Token.Token
	e.Admin = boot.WithToken(e.AdminToken)
	return e
}

// The first owner New bootstraps, and its password.
const (
	OwnerName     = "owner"
	OwnerPassword = "correct horse battery staple"
)

// fastPasswords are cheap argon2id parameters: tests hash passwords often,
// and what they prove does not depend on the cost.
var fastPasswords = identity.PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// startController builds the core over the data dir, registers the
// gateway's Link as the embedded gateway and serves the core on addr
// (any free loopback port when empty), as cmd/gatehouse-controller does.
func (e *Env) startController(t testing.TB, addr string) {
	t.Helper()
	srvCfg := e.srv
	srvCfg.DataDir = e.cfg.DataDir
	if addr != "" {
		srvCfg.Listen = addr
	}
	ctrl, err := controller.New(context.Background(), e.cfg)
	if err != nil {
		t.Fatalf("controller.New: %v", err)
	}
	if err := ctrl.RegisterGateway(context.Background(), controller.EmbeddedGateway, e.Link); err != nil {
		ctrl.Close()
		t.Fatalf("RegisterGateway(%q): %v", controller.EmbeddedGateway, err)
	}
	srv, err := httpapi.New(ctrl, srvCfg)
	if err != nil {
		ctrl.Close()
		t.Fatalf("httpapi.New: %v", err)
	}
	go srv.Serve()
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() {
			stopErr = srv.Close()
			if err := ctrl.Close(); stopErr == nil {
				stopErr = err
			}
		})
		return stopErr
	}
	e.Ctrl, e.Server, e.stop = ctrl, srv, stop
	t.Cleanup(func() { stop() })
}

// StopController stops the controller (its server, then its core), as a
// crash would: agents and gateways lose it.
func (e *Env) StopController() error {
	return e.stop()
}

// RestartController stops the controller and starts a new one on the same
// data dir, address and gateway, as a crash or an upgrade would.
func (e *Env) RestartController(t testing.TB) {
	t.Helper()
	addr := e.Server.Addr().String()
	Must(t, e.StopController())
	e.startController(t, addr)
}

// Upstream starts a real HTTP server on loopback that answers
// "hello from NAME", and returns its host:port.
func (e *Env) Upstream(t testing.TB, name string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			streamUntilClosed(w)
			return
		}
		fmt.Fprintf(w, "hello from %s", name)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// streamUntilClosed writes a chunk every 10 ms until the client goes away,
// so a test can watch an established flow be cut.
func streamUntilClosed(w http.ResponseWriter) {
	f := w.(http.Flusher)
	for {
		if _, err := w.Write([]byte("tick\n")); err != nil {
			return
		}
		f.Flush()
		time.Sleep(10 * time.Millisecond)
	}
}

// Must fails the test on err.
func Must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Standard sets up the usual world: group eng with user alice, a posture
// profile "secure" (disk encryption and firewall), apps grafana and wiki
// (each a real upstream), and a policy giving eng grafana under "secure".
// wiki is in no policy.
func (e *Env) Standard(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	Must(t, adminclient.Create(ctx, e.Admin, api.PathUsers, &api.User{Name: "alice", Groups: []string{"eng"}}))
	Must(t, adminclient.Create(ctx, e.Admin, api.PathPostureProfiles, &api.PostureProfile{Name: "secure", DiskEncryption: true, Firewall: true}))
	Must(t, adminclient.Create(ctx, e.Admin, api.PathApps, &api.App{Name: "grafana", Upstreams: []string{e.Upstream(t, "grafana")}}))
	Must(t, adminclient.Create(ctx, e.Admin, api.PathApps, &api.App{Name: "wiki", Upstreams: []string{e.Upstream(t, "wiki")}}))
	Must(t, adminclient.Create(ctx, e.Admin, api.PathPolicies, &api.Policy{Name: "eng-grafana", Groups: []string{"eng"},
		Apps: []string{"grafana"}, PostureProfiles: []string{"secure"}}))
}

// NewStandard is New, Standard and alice's agent, once grafana is allowed
// for it: where most tests start.
func NewStandard(t testing.TB, opts Options) (*Env, *Agent) {
	t.Helper()
	env := New(t, opts)
	env.Standard(t)
	a := env.Agent(t, "alice")
	a.Decision("grafana", true, 5*time.Second)
	return env, a
}

// GoodPosture is an override under which the "secure" profile passes.
const GoodPosture = `{"disk_encryption": true, "firewall": true}`

// Agent is a real agent enrolled for one user, with a posture override
// file the test rewrites.
type Agent struct {
	*agent.Agent
	t        testing.TB
	env      *Env
	cfg      agent.Config
	Override string
	Socket   string
	cancel   context.CancelFunc
	done     chan struct{}
}

// Agent enrolls a new device for user and runs its agent.
func (e *Env) Agent(t testing.TB, user string) *Agent {
	t.Helper()
	return e.AgentWith(t, user, nil)
}

// AgentWith is Agent with a hook that may change the agent's config (its
// posture source, say) before it starts.
func (e *Env) AgentWith(t testing.TB, user string, change func(*agent.Config)) *Agent {
	t.Helper()
	ctx := context.Background()
	tok, err := e.Admin.EnrollmentToken(ctx, user, time.Hour)
	if err != nil {
		t.Fatalf("enrollment token: %v", err)
	}
	dir := t.TempDir()
	sockDir, err := os.MkdirTemp("", "gh-agent")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	secrets := keystore.Files{Dir: dir}
	if _, err := agent.Enroll(ctx, agent.EnrollOptions{StateDir: dir, Controller: e.Server.URL(), Token: tok.Token,
		CAFile: e.Server.CAFile(), Hostname: "test-" + user, Secrets: secrets}); err != nil {
		t.Fatalf("agent.Enroll: %v", err)
	}
	override := filepath.Join(dir, "posture-override.json")
	Must(t, os.WriteFile(override, []byte(GoodPosture), 0o644))
	src := posture.WithOverride(posture.NewSystem(agent.Version), override, e.Log)
	ta := &Agent{t: t, env: e, Override: override, Socket: filepath.Join(sockDir, "agent.sock"),
		cfg: agent.Config{StateDir: dir, Secrets: secrets, Posture: src, PostureWatch: src.Watch,
			Socket: filepath.Join(sockDir, "agent.sock"), Logger: e.Log.With("component", "agent", "user", user)}}
	if change != nil {
		change(&ta.cfg)
	}
	ta.start()
	t.Cleanup(ta.Stop)
	return ta
}

// start runs a fresh agent process-equivalent on the enrolled state.
func (a *Agent) start() {
	a.t.Helper()
	ag, err := agent.New(a.cfg)
	if err != nil {
		a.t.Fatalf("agent.New: %v", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	a.Agent, a.cancel, a.done = ag, cancel, make(chan struct{})
	go func() {
		defer close(a.done)
		ag.Run(runCtx)
	}()
}

// Stop ends the agent and waits for it.
func (a *Agent) Stop() {
	a.cancel()
	<-a.done
}

// Restart stops the agent and starts a new one on the same state, as a
// reboot or an agent upgrade would: its tunnels and their keys are gone.
func (a *Agent) Restart() {
	a.Stop()
	a.start()
}

// SetPosture rewrites the override file; the agent reports at once.
func (a *Agent) SetPosture(json string) {
	a.t.Helper()
	tmp := a.Override + ".tmp"
	Must(a.t, os.WriteFile(tmp, []byte(json), 0o644))
	Must(a.t, os.Rename(tmp, a.Override))
}

// Addr waits until app's first port has a local proxy address.
func (a *Agent) Addr(app string) string {
	a.t.Helper()
	var addr string
	a.Eventually(5*time.Second, func() error {
		for _, v := range a.Apps() {
			if v.Name == app && len(v.LocalAddrs) > 0 {
				addr = v.LocalAddrs[0]
				return nil
			}
		}
		return fmt.Errorf("app %s has no local address yet", app)
	})
	return addr
}

// Get does an HTTP GET of path through the agent's local port for app.
func (a *Agent) Get(app, path string) (string, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + a.Addr(app) + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// Decision waits for the agent to hold a decision for app with allowed.
func (a *Agent) Decision(app string, allowed bool, within time.Duration) []api.Reason {
	a.t.Helper()
	var reasons []api.Reason
	a.Eventually(within, func() error {
		for _, v := range a.Apps() {
			if v.Name == app && v.Allowed == allowed && len(v.Reasons) > 0 {
				reasons = v.Reasons
				return nil
			}
		}
		return fmt.Errorf("no decision allowed=%v for %s yet: %+v", allowed, app, a.Apps())
	})
	return reasons
}

// Eventually retries f every 10 ms until it returns nil or within passes.
func (a *Agent) Eventually(within time.Duration, f func() error) {
	a.t.Helper()
	Eventually(a.t, within, f)
}

// Eventually retries f every 10 ms until it returns nil or within passes.
func Eventually(t testing.TB, within time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", within, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Link stands between the controller and the gateway; Cut makes every
// call fail, as a lost network would. Like cmd/gatehouse-controller's
// adapter, it reports the gateway's ErrUnknownPeer as controller.ErrPeerLost.
type Link struct {
	controller.Enforcer
	cut atomic.Bool
}

var _ controller.Enforcer = (*Link)(nil)

// ErrLinkCut is what the controller sees while the link is cut.
var ErrLinkCut = errors.New("link to gateway cut")

func (l *Link) Cut()     { l.cut.Store(true) }
func (l *Link) Restore() { l.cut.Store(false) }

func (l *Link) AddPeer(ctx context.Context, pc api.PeerConfig) error {
	if l.cut.Load() {
		return ErrLinkCut
	}
	return l.Enforcer.AddPeer(ctx, pc)
}

func (l *Link) RenewPeer(ctx context.Context, pub string, lease time.Duration) error {
	if l.cut.Load() {
		return ErrLinkCut
	}
	return peerLost(l.Enforcer.RenewPeer(ctx, pub, lease))
}

func (l *Link) RemovePeer(ctx context.Context, pub string) error {
	if l.cut.Load() {
		return ErrLinkCut
	}
	return peerLost(l.Enforcer.RemovePeer(ctx, pub))
}

func peerLost(err error) error {
	if errors.Is(err, gateway.ErrUnknownPeer) {
		return fmt.Errorf("%w: %w", controller.ErrPeerLost, err)
	}
	return err
}

// LogBuffer collects log lines for assertions.
type LogBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Len is how many bytes have been logged.
func (b *LogBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

// Contains reports whether any logged line contains s.
func (b *LogBuffer) Contains(s string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Contains(b.buf.String(), s)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// Stream is an established flow through a tunnel that keeps receiving
// data until the flow is cut.
type Stream struct {
	conn  net.Conn
	ended chan struct{}
}

// OpenStream starts a GET /stream through app's local port and waits for
// the first bytes.
func (a *Agent) OpenStream(app string) *Stream {
	a.t.Helper()
	return OpenStreamAt(a.t, a.Addr(app), app)
}

// OpenStreamAt starts a GET /stream of app through the local address
// addr and waits for the first bytes.
func OpenStreamAt(t testing.TB, addr, app string) *Stream {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	Must(t, err)
	t.Cleanup(func() { conn.Close() })
	_, err = conn.Write([]byte("GET /stream HTTP/1.1\r\nHost: " + app + "\r\n\r\n"))
	Must(t, err)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	first := make([]byte, 1)
	if _, err := io.ReadFull(conn, first); err != nil {
		t.Fatalf("stream through %s: no data: %v", app, err)
	}
	conn.SetReadDeadline(time.Time{})
	s := &Stream{conn: conn, ended: make(chan struct{})}
	go func() {
		defer close(s.ended)
		io.Copy(io.Discard, conn)
	}()
	return s
}

// AwaitEnd fails the test unless the stream ends within d of now.
func (s *Stream) AwaitEnd(t testing.TB, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case <-s.ended:
		return time.Since(start)
	case <-time.After(d):
		t.Fatalf("established flow still open %s after the cut", d)
		return 0
	}
}

// Open reports whether the stream is still receiving.
func (s *Stream) Open() bool {
	select {
	case <-s.ended:
		return false
	default:
		return true
	}
}
