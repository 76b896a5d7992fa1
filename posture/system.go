package posture

import (
	"context"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/process"
)

// slowFactsTTL is how long System reuses its slow facts. Collect runs about
// every second; running nft that often costs more than it buys, while a
// firewall turned off must still be seen within a few seconds. Where the
// OS signals a change (Watch: nftables, mounts, package databases) the
// cache is dropped at once; the TTL is the fallback for the rest
// (iptables-legacy, files without events).
const slowFactsTTL = 3 * time.Second

// System is the Source for the device the agent runs on. The facts it can
// read depend on the OS (see collect_*.go); the rest stay unknown.
type System struct {
	agentVersion string
	now          func() time.Time

	mu      sync.Mutex
	slow    slowFacts // cached; refreshed when older than slowFactsTTL or stale
	slowAt  time.Time
	slowGen uint64 // the slowStale generation slow was collected in

	// slowStale counts events that may have changed a slow fact; a cache
	// collected in an older generation is not used. Atomic, so Watch
	// never waits for a Collect in flight.
	slowStale atomic.Uint64
	// asksProcesses is whether the last Collect was asked about any
	// process, so Watch passes process events on only when they matter.
	asksProcesses atomic.Bool
}

var _ Source = (*System)(nil)

// slowFacts are the facts that cost an exec or several file reads and
// change rarely.
type slowFacts struct {
	OSName, OSVersion, Serial                        api.StringFact
	DiskEncryption, Firewall, ScreenLock, SecureBoot api.BoolFact

	// Issue 8's facts (see morefacts_linux.go).
	AutoUpdates     api.BoolFact
	DaysSinceUpdate api.IntFact
	MachineID       api.StringFact

	// Read on macOS or Windows only; unknown elsewhere.
	OSBuild, Domain                          api.StringFact
	SIP, Gatekeeper, Antivirus, DomainJoined api.BoolFact
}

// NewSystem returns the real collector for this OS. agentVersion is copied
// into every report.
func NewSystem(agentVersion string) *System {
	return &System{agentVersion: agentVersion, now: time.Now}
}

// Collect implements Source.
func (s *System) Collect(ctx context.Context, q api.PostureQuery) api.PostureReport {
	now := s.now()
	s.asksProcesses.Store(len(q.Processes) > 0 || len(q.Forbidden) > 0)
	slow := s.slowFacts(ctx, now)
	r := api.PostureReport{
		CollectedAt:    now,
		AgentVersion:   s.agentVersion,
		OSFamily:       api.KnownString(osFamily),
		OSName:         slow.OSName,
		OSVersion:      slow.OSVersion,
		Serial:         slow.Serial,
		DiskEncryption: slow.DiskEncryption,
		Firewall:       slow.Firewall,
		ScreenLock:     slow.ScreenLock,
		SecureBoot:     slow.SecureBoot,

		OSBuild:      slow.OSBuild,
		SIP:          slow.SIP,
		Gatekeeper:   slow.Gatekeeper,
		Antivirus:    slow.Antivirus,
		DomainJoined: slow.DomainJoined,
		Domain:       slow.Domain,

		AutoUpdates:     slow.AutoUpdates,
		DaysSinceUpdate: slow.DaysSinceUpdate,
		MachineID:       slow.MachineID,
		Forbidden:       forbiddenSoftware(ctx, q.Forbidden),
		Files:           requiredFiles(q.Files),
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		r.Hostname = api.KnownString(h)
	}
	if k, err := host.KernelVersionWithContext(ctx); err == nil && k != "" {
		r.Kernel = api.KnownString(k)
	}
	if up, err := host.UptimeWithContext(ctx); err == nil {
		r.UptimeSeconds = api.KnownInt(int64(up))
	}
	var names, software []string
	for _, spec := range q.Processes {
		if path, _, _ := api.ParseSoftwareSpec(spec); path != "" || strings.HasPrefix(spec, "/") {
			software = append(software, spec)
		} else {
			names = append(names, spec)
		}
	}
	r.Processes = runningProcesses(ctx, names)
	for spec, v := range runningSoftware(ctx, software) {
		if r.Processes == nil {
			r.Processes = make(map[string]api.BoolFact)
		}
		f := v.Fact
		f.Reason = v.Reason
		r.Processes[spec] = f
	}
	return r
}

// slowFacts returns the cached slow facts, refreshing them when stale.
// Concurrent callers wait for one refresh rather than each running it.
func (s *System) slowFacts(ctx context.Context, now time.Time) slowFacts {
	s.mu.Lock()
	defer s.mu.Unlock()
	gen := s.slowStale.Load()
	if !s.slowAt.IsZero() && now.Sub(s.slowAt) < slowFactsTTL && !now.Before(s.slowAt) && s.slowGen == gen {
		return s.slow
	}
	f := collectSlow(ctx)
	if ctx.Err() != nil {
		// Facts cut short by a cancelled caller are not worth keeping.
		return f
	}
	// Stored under the generation read before collecting: an event during
	// the collection makes it stale for the next caller.
	s.slow, s.slowAt, s.slowGen = f, now, gen
	return f
}

// dropSlowFacts makes the next Collect read the slow facts again: an
// event said one of them may have changed.
func (s *System) dropSlowFacts() { s.slowStale.Add(1) }

// runningProcesses reports, for each asked name, whether a process with
// exactly that name (as gopsutil reports it) is running. Names stay unknown
// when the process list cannot be read completely.
func runningProcesses(ctx context.Context, names []string) map[string]api.BoolFact {
	if len(names) == 0 {
		return nil
	}
	facts := make(map[string]api.BoolFact, len(names))
	for _, n := range names {
		facts[n] = api.BoolFact{}
	}
	// Pids, not gopsutil's Processes: that one reads each process's stat
	// for its start time, which a name check does not need and which was
	// most of a re-check's cost.
	pids, err := process.PidsWithContext(ctx)
	if err != nil {
		return facts
	}
	running := make(map[string]bool)
	complete := true
	for _, pid := range pids {
		p := &process.Process{Pid: pid}
		name, err := processName(ctx, p, facts)
		if err != nil {
			if alive, _ := process.PidExistsWithContext(ctx, p.Pid); alive {
				// A live process we cannot name might be the one asked
				// about: "not running" would be a guess.
				complete = false
			}
			continue
		}
		if _, asked := facts[name]; asked && !zombie(ctx, p) {
			running[name] = true
		}
	}
	if ctx.Err() != nil {
		complete = false
	}
	for n := range facts {
		switch {
		case running[n]:
			facts[n] = api.KnownBool(true)
		case complete:
			facts[n] = api.KnownBool(false)
		}
	}
	return facts
}

// zombie says whether p has exited and waits to be reaped: it keeps its
// name but runs nothing. The process connector reports an exit before the
// reap, so a re-check on that event must not count it.
func zombie(ctx context.Context, p *process.Process) bool {
	st, err := p.StatusWithContext(ctx)
	return err == nil && slices.Contains(st, process.Zombie)
}
