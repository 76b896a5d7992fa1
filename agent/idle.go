package agent

import (
	"runtime"
	"runtime/debug"
	"time"
)

// Idle release: an app tunnel with no open flow for Config.TunnelIdle is
// closed and its grant released, the way a tunnel at the end of its lease
// would be, but with no decision recorded (the controller did not change
// its mind). Each tunnel has its own wireguard-go device, whose routines
// hold ~2 MB of message buffers resident (docs/benchmarks.md, Memory):
// releasing idle ones is what keeps an agent with many entitled apps
// small. The next flow asks for a grant again. Exports live in a.exports,
// never in a.tunnels, so they are never released here.

// freeMemoryDelay gathers the releases of tunnels that go idle together
// into one return of memory to the OS.
const freeMemoryDelay = 500 * time.Millisecond

// armIdle starts t's idle timer, when the agent releases idle tunnels.
func (a *Agent) armIdle(t *appTunnel) {
	t.idle = a.cfg.TunnelIdle
	if t.idle <= 0 {
		return
	}
	t.lastUse = a.clock.Now()
	t.idleTimer = a.clock.AfterFunc(t.idle, func() { a.idleCheck(t) })
}

// used marks t as just handed out: it is not released for idleness within
// the idle period, which covers the gap before the caller's dial.
func (t *appTunnel) used() {
	t.mu.Lock()
	t.lastUse = t.clock.Now()
	t.mu.Unlock()
}

// idleCheck runs when t's idle timer fires: t is released if it is still
// its app's tunnel, has no flow and no dial in progress, and was not used
// for the idle period; otherwise the timer is armed again when the check
// may pass later (a flow's end arms it itself, in Untrack).
func (a *Agent) idleCheck(t *appTunnel) {
	a.mu.Lock()
	if a.tunnels[t.app] != t || a.stopped {
		a.mu.Unlock()
		return
	}
	t.mu.Lock()
	if t.closed || t.flows > 0 {
		t.mu.Unlock()
		a.mu.Unlock()
		return
	}
	if t.dialing > 0 {
		t.idleTimer.Reset(t.idle)
		t.mu.Unlock()
		a.mu.Unlock()
		return
	}
	if left := t.idle - a.clock.Now().Sub(t.lastUse); left > 0 {
		t.idleTimer.Reset(left)
		t.mu.Unlock()
		a.mu.Unlock()
		return
	}
	// Under both locks: no front-end can be handed t from here on, and a
	// flow of a caller that had it already is refused by Track.
	t.closed = true
	delete(a.tunnels, t.app)
	ctx := a.runCtx // set: tunnels come from Run's control connection
	t.mu.Unlock()
	a.mu.Unlock()
	a.stateChanged()
	t.close()
	a.log.Info("tunnel released: idle", "app", t.app, "idle", t.idle)
	a.release(ctx, t.app, t.pub.String())
	a.freeMemorySoon()
}

// freeMemorySoon returns the memory of closed tunnels to the OS once,
// shortly after the first of a group of releases: the Go runtime would
// otherwise keep the freed buffers' pages for reuse and the RSS would not
// drop (measured: 42 MB with 10 tunnels released and a single collection,
// 26 MB with two).
func (a *Agent) freeMemorySoon() {
	if !a.freeMemory.CompareAndSwap(false, true) {
		return
	}
	a.clock.AfterFunc(freeMemoryDelay, func() {
		a.freeMemory.Store(false)
		// Two collections: wireguard-go keeps its message buffers in
		// sync.Pools, whose contents survive one collection (as the
		// pool's victim cache) and are freed by the next; FreeOSMemory
		// then returns their pages.
		runtime.GC()
		debug.FreeOSMemory()
	})
}
