package controller

import (
	"fmt"
	"time"

	"golang.org/x/time/rate"

	"github.com/gatehouse-ztna/gatehouse/controller/ipam"
)

// Defaults for agent links (Config fields of the same names). Pings and
// write timeouts belong to the transport (controller/httpapi).
const (
	DefaultPostureDecideInterval = 100 * time.Millisecond
	DefaultGrantRequestRate      = 20.0
	DefaultGrantRequestBurst     = 100
)

// linkDefaults fills the link fields of cfg left zero and refuses
// nonsense.
func (cfg *Config) linkDefaults() error {
	for _, f := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"posture decide interval", &cfg.PostureDecideInterval, DefaultPostureDecideInterval},
	} {
		if *f.v < 0 {
			return fmt.Errorf("%s %s is negative: leave it 0 for the default %s", f.name, *f.v, f.def)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if cfg.GrantRequestRate < 0 || cfg.GrantRequestBurst < 0 {
		return fmt.Errorf("grant request rate %g/s and burst %d must not be negative: leave them 0 for %g/s and %d",
			cfg.GrantRequestRate, cfg.GrantRequestBurst, DefaultGrantRequestRate, DefaultGrantRequestBurst)
	}
	if cfg.GrantRequestRate == 0 {
		cfg.GrantRequestRate = DefaultGrantRequestRate
	}
	if cfg.GrantRequestBurst == 0 {
		cfg.GrantRequestBurst = DefaultGrantRequestBurst
	}
	if !cfg.OverlayPrefix.IsValid() {
		cfg.OverlayPrefix = ipam.OverlayPrefix()
	}
	p := cfg.OverlayPrefix.Masked()
	if !p.Addr().Is4() || p.Bits() > 31 || p.Overlaps(ipam.AppPrefix()) {
		return fmt.Errorf("overlay prefix %s: use an IPv4 prefix of at most /31 outside the app range %s (default %s)", cfg.OverlayPrefix, ipam.AppPrefix(), ipam.OverlayPrefix())
	}
	cfg.OverlayPrefix = p
	return nil
}

// linkLimits hold back what one agent link may make the controller
// do. A well-behaved agent never meets them; one that floods gets a
// rate_limited error now and then, never a disconnect.
type linkLimits struct {
	// posture re-decides the link's grants and decisions for the
	// latest report, at most once per PostureDecideInterval.
	posture *coalescer
	// Owned by the read loop:
	postureRate *rate.Limiter // beyond it reports are still coalesced, and the agent is told
	grantRate   *rate.Limiter // beyond it grant requests are denied
	sessionRate *rate.Limiter // refresh and logout messages (each a store write); beyond it they are ignored
	notice      *rate.Limiter // at most one rate_limited error a second
}

func newLinkLimits(cfg Config, clk clock) linkLimits {
	perReport := rate.Every(cfg.PostureDecideInterval)
	return linkLimits{
		posture:     newCoalescer(cfg.PostureDecideInterval, clk),
		postureRate: rate.NewLimiter(perReport, 20),
		grantRate:   rate.NewLimiter(rate.Limit(cfg.GrantRequestRate), cfg.GrantRequestBurst),
		// An agent refreshes once per access token (minutes): 5 at once,
		// then one a second, is far beyond any honest need.
		sessionRate: rate.NewLimiter(rate.Every(time.Second), 5),
		notice:      rate.NewLimiter(rate.Every(time.Second), 1),
	}
}

// clock is the time that link limits run on; tests advance a fake one.
type clock interface {
	Now() time.Time
	// After is time.After on this clock.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

var _ clock = realClock{}

// coalescer runs an action for the latest of a burst of kicks, at most
// once per interval. A kick after a quiet spell runs it at once (a posture
// change must revoke fast); kicks that arrive while it runs, or within the
// interval from the start of the last run, collapse into one run at the
// end of the interval, so the last kick of a burst is never lost.
type coalescer struct {
	interval time.Duration
	clock    clock
	kicked   chan struct{} // holds one pending kick
}

func newCoalescer(interval time.Duration, clk clock) *coalescer {
	return &coalescer{interval: interval, clock: clk, kicked: make(chan struct{}, 1)}
}

// Kick asks for a run; it never blocks.
func (q *coalescer) Kick() {
	select {
	case q.kicked <- struct{}{}:
	default:
	}
}

// Run calls do for kicks until stop is closed, and then once more if a
// kick is still pending, so a report that arrived just before the link
// ended is still decided.
func (q *coalescer) Run(stop <-chan struct{}, do func()) {
	flush := func() {
		select {
		case <-q.kicked:
			do()
		default:
		}
	}
	for {
		select {
		case <-stop:
			flush()
			return
		case <-q.kicked:
		}
		start := q.clock.Now()
		do()
		if wait := q.interval - q.clock.Now().Sub(start); wait > 0 {
			select {
			case <-stop:
				flush()
				return
			case <-q.clock.After(wait):
			}
		}
	}
}
