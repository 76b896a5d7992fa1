package grants

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/ipam"
)

// fakeClock moves only when told; AfterFunc callbacks run inside Advance.
type fakeClock struct {
	mu     sync.Mutex // guards now and timers
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at      time.Time
	f       func()
	stopped bool
}

func (t *fakeTimer) Stop() bool { was := !t.stopped; t.stopped = true; return was }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

// Advance moves the clock and runs the callbacks that came due, in order.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due, left []*fakeTimer
	for _, t := range c.timers {
		if !t.stopped && !t.at.After(c.now) {
			due = append(due, t)
		} else if !t.stopped {
			left = append(left, t)
		}
	}
	c.timers = left
	c.mu.Unlock()
	sort.Slice(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, t := range due {
		t.stopped = true
		t.f()
	}
}

// journal records, in order, what the fakes were asked to do.
type journal struct {
	mu    sync.Mutex // guards lines
	lines []string
}

func (j *journal) add(format string, args ...any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.lines = append(j.lines, fmt.Sprintf(format, args...))
}

func (j *journal) all() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.lines...)
}

// fakeEnforcer is a gateway in memory; fail makes every call fail.
type fakeEnforcer struct {
	name  string
	j     *journal
	mu    sync.Mutex // guards peers and fail
	peers map[string]api.PeerConfig
	fail  bool
	// beforeAdd, when set before use, runs at the start of every AddPeer
	// (outside mu), so a test can hold a request inside the gateway.
	beforeAdd func(pub string)
}

var _ Enforcer = (*fakeEnforcer)(nil)

func newFakeEnforcer(name string, j *journal) *fakeEnforcer {
	return &fakeEnforcer{name: name, j: j, peers: map[string]api.PeerConfig{}}
}

var errFake = errors.New("fake gateway refuses")

func (e *fakeEnforcer) Endpoint() string  { return e.name + ".example.test:51820" }
func (e *fakeEnforcer) PublicKey() string { return "gwkey-" + e.name }

func (e *fakeEnforcer) AddPeer(_ context.Context, pc api.PeerConfig) error {
	if e.beforeAdd != nil {
		e.beforeAdd(pc.PublicKey)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fail {
		return errFake
	}
	e.peers[pc.PublicKey] = pc
	e.j.add("%s: add %s", e.name, pc.PublicKey)
	return nil
}

func (e *fakeEnforcer) RenewPeer(_ context.Context, pub string, lease time.Duration) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fail {
		return errFake
	}
	pc, ok := e.peers[pub]
	if !ok {
		return fmt.Errorf("renew %s: %w", pub, ErrPeerLost)
	}
	pc.Lease = api.Duration(lease)
	e.peers[pub] = pc
	e.j.add("%s: renew %s %s", e.name, pub, lease)
	return nil
}

func (e *fakeEnforcer) RemovePeer(_ context.Context, pub string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fail {
		return errFake
	}
	if _, ok := e.peers[pub]; !ok {
		return fmt.Errorf("remove %s: %w", pub, ErrPeerLost)
	}
	delete(e.peers, pub)
	e.j.add("%s: remove %s", e.name, pub)
	return nil
}

// lose drops pub behind the Manager's back, as a gateway that restarted
// or expired it on its own timer does.
func (e *fakeEnforcer) lose(pub string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.peers, pub)
}

func (e *fakeEnforcer) Peers(context.Context) []api.GatewayPeer {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []api.GatewayPeer
	for _, pc := range e.peers {
		out = append(out, api.GatewayPeer{PublicKey: pc.PublicKey, App: pc.App, OverlayAddr: pc.OverlayAddr})
	}
	return out
}

func (e *fakeEnforcer) setFail(fail bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fail = fail
}

func (e *fakeEnforcer) peer(pub string) (api.PeerConfig, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	pc, ok := e.peers[pub]
	return pc, ok
}

// fakePolicy allows the apps in allowed.
type fakePolicy struct {
	mu      sync.Mutex // guards apps, allowed, decisions and afterDecide
	apps    map[string]api.App
	allowed map[string]bool
	// decisions counts Decide calls; afterDecide, when set, runs after
	// the n-th has made its decision and before it returns (outside mu),
	// so a test can land a change at exactly that point.
	decisions   int
	afterDecide func(n int)
	// until, by app, is the decision's AccessUntil (just-in-time access).
	until map[string]time.Time
}

func (p *fakePolicy) Decide(user, device, app string, now time.Time) api.Decision {
	p.mu.Lock()
	p.decisions++
	n, hook := p.decisions, p.afterDecide
	d := api.Decision{App: app, Reasons: []api.Reason{{Code: api.CodePostureDiskEncryption, Message: "disk encryption is off"}}}
	if p.allowed[app] {
		d = api.Decision{App: app, Allowed: true, Reasons: []api.Reason{{Code: api.CodePolicyAllow}}, AccessUntil: p.until[app]}
	}
	p.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	return d
}

func (p *fakePolicy) App(name string) (api.App, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.apps[name]
	return a, ok
}

func (p *fakePolicy) set(f func(apps map[string]api.App, allowed map[string]bool)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p.apps, p.allowed)
}

// fakePresence has every device connected but those in offline.
type fakePresence struct {
	mu      sync.Mutex // guards offline
	offline map[string]bool
}

var _ Presence = (*fakePresence)(nil)

func (n *fakePresence) Connected(device string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return !n.offline[device]
}

// fakeLink is the link a request came on.
type fakeLink struct {
	j     *journal
	stale bool // replaced by a newer link
	mu    sync.Mutex
	sent  []any // guarded by mu
}

func (l *fakeLink) Send(typ string, msg any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent = append(l.sent, msg)
	l.j.add("reply: %s", typ)
}

func (l *fakeLink) Current() bool { return !l.stale }

func (l *fakeLink) last() any {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.sent) == 0 {
		return nil
	}
	return l.sent[len(l.sent)-1]
}

// rig is a Manager with fakes around it.
type rig struct {
	m        *Manager
	clock    *fakeClock
	j        *journal
	gw       *fakeEnforcer
	policy   *fakePolicy
	presence *fakePresence
	overlays *ipam.Pool
	events   []Event
	evMu     sync.Mutex // guards events
}

const testLease = time.Minute

func newRig(t *testing.T) *rig {
	t.Helper()
	j := &journal{}
	r := &rig{clock: &fakeClock{now: time.Unix(1_000_000, 0)}, j: j, gw: newFakeEnforcer(EmbeddedGateway, j),
		policy: &fakePolicy{apps: map[string]api.App{
			"grafana": {Name: "grafana", Upstreams: []string{"10.0.0.5:3000"}, VirtualIP: "100.80.0.1"},
			"wiki":    {Name: "wiki", Upstreams: []string{"10.0.0.6:80"}, Gateway: "paris", VirtualIP: "100.80.0.2"},
		}, allowed: map[string]bool{"grafana": true, "wiki": true}},
		presence: &fakePresence{offline: map[string]bool{}},
		overlays: ipam.NewPool(netip.MustParsePrefix("100.64.0.0/30"))}
	r.m = New(Config{Lease: testLease, Clock: r.clock, Policy: r.policy, Presence: r.presence, Overlays: r.overlays})
	// Events go to the journal too, so tests see them in order with what
	// the gateway was asked (an agent pusher subscribes the same way).
	r.m.Subscribe(func(e Event) {
		r.evMu.Lock()
		defer r.evMu.Unlock()
		r.events = append(r.events, e)
		j.add("event: %s %s", e.Kind, e.PublicKey)
	})
	if err := r.m.RegisterGateway(context.Background(), EmbeddedGateway, r.gw); err != nil {
		t.Fatal(err)
	}
	return r
}

// request asks for app on device d1 with key pub.
func (r *rig) request(t *testing.T, app, pub string) *fakeLink {
	t.Helper()
	l := &fakeLink{j: r.j}
	if err := r.m.Request(context.Background(), Request{Device: "d1", User: "alice", App: app, PublicKey: pub}, l); err != nil {
		t.Fatalf("Request(%q) = %v, want nil", app, err)
	}
	return l
}

// takeEvents lists the events so far and forgets them.
func (r *rig) takeEvents() []Event {
	r.evMu.Lock()
	defer r.evMu.Unlock()
	out := r.events
	r.events = nil
	return out
}

func kinds(evs []Event) []Kind {
	out := make([]Kind, 0, len(evs))
	for _, e := range evs {
		out = append(out, e.Kind)
	}
	return out
}

// free lists the overlay addresses free now (taking and giving them back).
func (r *rig) free() []netip.Addr {
	var out []netip.Addr
	for a, err := r.overlays.Take(); err == nil; a, err = r.overlays.Take() {
		out = append(out, a)
	}
	for _, a := range out {
		r.overlays.Release(a)
	}
	return out
}
