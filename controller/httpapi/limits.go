package httpapi

import (
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limits bound what clients that have not proven anything yet can make the
// controller do. Zero fields take the values of DefaultLimits.
type Limits struct {
	// ReadHeaderTimeout drops a client that sends its request headers too
	// slowly (slowloris); the TLS handshake gets the smallest of the three
	// read/write timeouts.
	ReadHeaderTimeout time.Duration
	// ReadTimeout and WriteTimeout bound one request and its answer; an
	// agent's websocket is exempt once upgraded (net/http clears the
	// deadlines on hijack).
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections nobody uses.
	IdleTimeout time.Duration
	// MaxHeaderBytes caps a request's header block.
	MaxHeaderBytes int
	// MaxConns caps the connections served at once, agents' websockets
	// included; further clients wait in the kernel's accept queue.
	MaxConns int
	// Enroll and AgentAuth are per-source token buckets for POST
	// /api/v1/enroll and for agent websocket upgrades (each of which is
	// one device-key proof). A source is an IPv4 address or an IPv6 /64.
	Enroll    Rate
	AgentAuth Rate
}

// Rate is a token bucket: Burst attempts at once, then one every Every.
type Rate struct {
	Every time.Duration
	Burst int
}

// DefaultLimits are generous enough for a few hundred agents behind one NAT
// reconnecting after a controller restart, and small enough that one
// source cannot keep the store or the signature checks busy.
func DefaultLimits() Limits {
	return Limits{
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		MaxConns:          10000,
		Enroll:            Rate{Every: time.Second, Burst: 30},
		AgentAuth:         Rate{Every: 100 * time.Millisecond, Burst: 100},
	}
}

// Body limits: an unauthenticated request gets only what its message needs.
const (
	maxEnrollBodyBytes = 4 << 10
	maxAdminBodyBytes  = 1 << 20
)

// withDefaults fills l's zero fields from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	durations := []struct{ v, def *time.Duration }{
		{&l.ReadHeaderTimeout, &d.ReadHeaderTimeout}, {&l.ReadTimeout, &d.ReadTimeout},
		{&l.WriteTimeout, &d.WriteTimeout}, {&l.IdleTimeout, &d.IdleTimeout},
	}
	for _, f := range durations {
		if *f.v == 0 {
			*f.v = *f.def
		}
	}
	if l.MaxHeaderBytes == 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.MaxConns == 0 {
		l.MaxConns = d.MaxConns
	}
	if l.Enroll == (Rate{}) {
		l.Enroll = d.Enroll
	}
	if l.AgentAuth == (Rate{}) {
		l.AgentAuth = d.AgentAuth
	}
	return l
}

// validate refuses limits that would switch a control off by accident.
func (l Limits) validate() error {
	for name, r := range map[string]Rate{"enroll": l.Enroll, "agent auth": l.AgentAuth} {
		if r.Every <= 0 || r.Burst <= 0 {
			return fmt.Errorf("%s rate limit %+v: both Every and Burst must be positive", name, r)
		}
	}
	if l.MaxConns < 0 || l.MaxHeaderBytes < 0 {
		return fmt.Errorf("limits: MaxConns %d and MaxHeaderBytes %d must be positive", l.MaxConns, l.MaxHeaderBytes)
	}
	return nil
}

// maxSources bounds a sourceLimiter's memory: when it is full, sources
// whose bucket has refilled are forgotten (a forgotten source starts with
// a full bucket, which is what it had).
const maxSources = 1 << 16

// sourceLimiter is a token bucket per client source.
type sourceLimiter struct {
	what  string // names the limited action in errors: "enrollment attempts"
	every time.Duration
	burst int
	now   func() time.Time

	mu      sync.Mutex
	sources map[netip.Prefix]*sourceBucket // guarded by mu
}

type sourceBucket struct {
	lim  *rate.Limiter
	last time.Time // last attempt
}

func newSourceLimiter(what string, r Rate, now func() time.Time) *sourceLimiter {
	return &sourceLimiter{what: what, every: r.Every, burst: r.Burst, now: now, sources: map[netip.Prefix]*sourceBucket{}}
}

// source is the bucket key of a remote address: the IPv4 address, or the
// IPv6 /64 (one host usually holds a whole /64).
func source(remoteAddr string) netip.Prefix {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return netip.Prefix{} // not TCP (tests' fake addresses): one shared bucket
	}
	ip := ap.Addr().Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// allow takes one token from src's bucket; when there is none it says how
// long until there is.
func (l *sourceLimiter) allow(src netip.Prefix) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.sources[src]
	if b == nil {
		if len(l.sources) >= maxSources {
			l.forgetRefilled(now)
		}
		b = &sourceBucket{lim: rate.NewLimiter(rate.Every(l.every), l.burst)}
		l.sources[src] = b
	}
	b.last = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now) // a refused attempt does not push the next one further out
		return false, d
	}
	return true, 0
}

// forgetRefilled drops sources whose bucket is full again, and if that is
// not enough, arbitrary ones. Called with mu held.
func (l *sourceLimiter) forgetRefilled(now time.Time) {
	refill := l.every * time.Duration(l.burst)
	for k, b := range l.sources {
		if now.Sub(b.last) >= refill {
			delete(l.sources, k)
		}
	}
	for k := range l.sources {
		if len(l.sources) < maxSources {
			break
		}
		delete(l.sources, k)
	}
}

// wrap refuses a request with 429 when its source has no token left.
func (l *sourceLimiter) wrap(log func(msg string, args ...any), h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		src := source(r.RemoteAddr)
		ok, wait := l.allow(src)
		if !ok {
			secs := int(math.Ceil(wait.Seconds()))
			log("request refused: rate limit", "what", l.what, "source", src.String(), "retry_after_s", secs)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			writeError(w, http.StatusTooManyRequests, fmt.Sprintf("too many %s from %s: wait %ds and try again", l.what, src.Addr(), secs))
			return
		}
		h.ServeHTTP(w, r)
	})
}
