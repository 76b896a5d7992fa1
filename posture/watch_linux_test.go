package posture

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/internal/testenv"
)

// eventCounter counts pokes and lets a test wait for the next one.
type eventCounter struct {
	n  atomic.Int64
	ch chan struct{}
}

func newEventCounter() *eventCounter { return &eventCounter{ch: make(chan struct{}, 1)} }

func (c *eventCounter) poke() {
	c.n.Add(1)
	select {
	case c.ch <- struct{}{}:
	default:
	}
}

// drain forgets pokes so far (other processes on the machine send some).
func (c *eventCounter) drain() {
	for {
		select {
		case <-c.ch:
		default:
			return
		}
	}
}

// await waits for a poke within d and says how long it took.
func (c *eventCounter) await(t *testing.T, what string, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case <-c.ch:
		return time.Since(start)
	case <-time.After(d):
		t.Fatalf("no event within %v after %s", d, what)
		return 0
	}
}

// runSource starts an event source and stops it with the test.
func runSource(t *testing.T, run func(context.Context, func()) error, poke func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, poke) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("event source returned %v after its context ended, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("event source still running 5s after its context ended")
		}
	})
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "needs root for netlink event groups")
	}
}

// sleepCopy is a copy of sleep under a name of its own, so the filter
// test below can tell its events from the machine's.
func sleepCopy(t *testing.T) string {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skipf("no sleep: %v", err)
	}
	bin, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), fmt.Sprintf("ghwatch%d", os.Getpid()))
	if err := os.WriteFile(path, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestProcConnectorSeesExecAndExit: starting and killing a process each
// reach the watcher within a few milliseconds.
func TestProcConnectorSeesExecAndExit(t *testing.T) {
	needRoot(t)
	run, err := openProcConnector()
	if err != nil {
		t.Fatalf("openProcConnector() = %v, want a subscription (root, initial network namespace)", err)
	}
	c := newEventCounter()
	runSource(t, run, c.poke)
	bin := sleepCopy(t)
	time.Sleep(50 * time.Millisecond) // the subscription is asynchronous
	c.drain()

	cmd := exec.Command(bin, "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("exec seen after %v", c.await(t, "exec", time.Second))
	time.Sleep(20 * time.Millisecond)
	c.drain()
	cmd.Process.Kill()
	t.Logf("exit seen after %v", c.await(t, "kill", time.Second))
	cmd.Wait()
}

// TestProcEventFilterDropsThreadExits: a process whose threads start and
// end (no exec, no process exit) wakes the watcher not once per thread.
func TestProcEventFilterDropsThreadExits(t *testing.T) {
	needRoot(t)
	run, err := openProcConnector()
	if err != nil {
		t.Fatalf("openProcConnector() = %v", err)
	}
	c := newEventCounter()
	runSource(t, run, c.poke)
	time.Sleep(50 * time.Millisecond)
	before := c.n.Load()
	const threads = 200
	done := make(chan struct{})
	for range threads {
		go func() {
			runtime.LockOSThread() // the thread ends with the goroutine
			done <- struct{}{}
		}()
		<-done
	}
	time.Sleep(100 * time.Millisecond)
	// Other processes on the machine may exec or exit meanwhile; 200
	// thread exits passed through would be 200 events.
	if got := c.n.Load() - before; got >= threads/2 {
		t.Errorf("%d thread exits woke the watcher %d times, want the filter to drop them", threads, got)
	}
}

// TestNftMonitorSeesRulesetChange: a table added in a network namespace
// reaches a watcher subscribed in that namespace.
func TestNftMonitorSeesRulesetChange(t *testing.T) {
	needRoot(t)
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.SkipOrFail(t, fmt.Sprintf("needs %s: %v", tool, err))
		}
	}
	ns := fmt.Sprintf("gh-watch-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", ns, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })

	run, err := inNetns(t, ns, openNftMonitor)
	if err != nil {
		t.Fatalf("openNftMonitor() in %s = %v", ns, err)
	}
	c := newEventCounter()
	runSource(t, run, c.poke)
	nft := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", append([]string{"netns", "exec", ns, "nft"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("nft %v: %v: %s", args, err, out)
		}
	}
	nft("add", "table", "inet", "ghwatch")
	t.Logf("table added: seen after %v", c.await(t, "nft add table", time.Second))
	c.drain()
	nft("add", "chain", "inet", "ghwatch", "input", "{ type filter hook input priority 0; policy drop; }")
	t.Logf("input chain added: seen after %v", c.await(t, "nft add chain", time.Second))
}

// inNetns runs open on a thread inside the named network namespace; the
// socket it makes stays there. The thread is thrown away afterwards.
func inNetns(t *testing.T, ns string, open func() (func(context.Context, func()) error, error)) (func(context.Context, func()) error, error) {
	t.Helper()
	type result struct {
		run func(context.Context, func()) error
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		f, err := os.Open(filepath.Join("/var/run/netns", ns))
		if err != nil {
			ch <- result{nil, err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{nil, fmt.Errorf("setns %s: %w", ns, err)}
			return
		}
		run, err := open()
		ch <- result{run, err}
	}()
	r := <-ch
	return r.run, r.err
}

// TestMountWatchSeesMount: a tmpfs mounted in a mount namespace of the
// test's own is seen on that namespace's mountinfo.
func TestMountWatchSeesMount(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	// A child in its own mount namespace says it is there, mounts when
	// told, waits, then exits; the watcher reads the child's mountinfo.
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
		"echo ready; read line; mount -t tmpfs ghwatch "+dir+"; read line")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		testenv.SkipOrFail(t, fmt.Sprintf("unshare: %v", err))
	}
	t.Cleanup(func() { in.Close(); cmd.Wait() })
	// "ready" comes from sh, which unshare started once the namespace
	// existed: the mountinfo opened next is the new namespace's.
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("child said %q, %v; want ready", line, err)
	}
	run, err := openMountWatch(fmt.Sprintf("/proc/%d/mountinfo", cmd.Process.Pid))
	if err != nil {
		t.Fatalf("openMountWatch() = %v", err)
	}
	c := newEventCounter()
	runSource(t, run, c.poke)
	fmt.Fprintln(in, "mount")
	t.Logf("mount seen after %v", c.await(t, "mount -t tmpfs", time.Second))
}

// TestDirWatchSeesPackageDatabaseWrite: a write in a watched directory
// pokes, as dpkg rewriting its status file would.
func TestDirWatchSeesPackageDatabaseWrite(t *testing.T) {
	dir := t.TempDir()
	run, err := openDirWatch([]string{filepath.Join(dir, "missing"), dir})
	if err != nil {
		t.Fatalf("openDirWatch() = %v", err)
	}
	c := newEventCounter()
	runSource(t, run, c.poke)
	if err := os.WriteFile(filepath.Join(dir, "status-new"), []byte("Package: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.await(t, "write", time.Second)
	if _, err := openDirWatch([]string{filepath.Join(dir, "missing")}); err == nil {
		t.Error("openDirWatch(only missing dirs) = nil error, want one saying nothing can be watched")
	}
}

// TestWatcherDropsSlowFactsAndCoalescesAFlood runs the whole watcher as
// the agent does: a user spawning processes as fast as it can costs at
// most one re-collection per watchMinGap, a slow-fact event drops the
// cache, and process events are not passed on while no process is asked
// about.
func TestWatcherDropsSlowFactsAndCoalescesAFlood(t *testing.T) {
	needRoot(t)
	s := NewSystem("test")
	bin := sleepCopy(t)
	s.Collect(context.Background(), api.PostureQuery{Processes: []string{bin}})
	c := newEventCounter()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Watcher(nil)(ctx, c.poke) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watcher() = %v after its context ended, want nil", err)
		}
	}()
	time.Sleep(100 * time.Millisecond)

	// A kill is passed on well within the second a revocation may take.
	cmd := exec.Command(bin, "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * watchMinGap)
	c.drain()
	cmd.Process.Kill()
	took := c.await(t, "kill", time.Second)
	cmd.Wait()
	if limit := watchMinGap + watchSettle + 100*time.Millisecond; took > limit {
		t.Errorf("kill passed on after %v, want within %v", took, limit)
	}

	// The flood: short processes, one after another, for floodFor.
	const floodFor = time.Second
	time.Sleep(2 * watchMinGap)
	before := c.n.Load()
	start := time.Now()
	spawned := 0
	for time.Since(start) < floodFor {
		if err := exec.Command(bin, "0").Run(); err != nil {
			t.Fatal(err)
		}
		spawned++
	}
	time.Sleep(2 * watchMinGap)
	calls := c.n.Load() - before
	elapsed := time.Since(start)
	limit := int64(elapsed/watchMinGap) + 2
	t.Logf("%d processes spawned in %v: %d re-collections (limit %d)", spawned, floodFor, calls, limit)
	if spawned < 50 {
		t.Fatalf("only %d processes spawned in %v: no flood to measure", spawned, floodFor)
	}
	if calls > limit || calls == 0 {
		t.Errorf("a flood of %d processes caused %d re-collections, want 1..%d (one per %v)", spawned, calls, limit, watchMinGap)
	}

	// Nothing asked about processes: their events are not passed on.
	s.Collect(context.Background(), api.PostureQuery{})
	time.Sleep(2 * watchMinGap)
	before = c.n.Load()
	for range 50 {
		if err := exec.Command(bin, "0").Run(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * watchMinGap)
	// Mounts, nft or package updates elsewhere on the machine may still
	// poke once or twice.
	if got := c.n.Load() - before; got > 2 {
		t.Errorf("50 processes with no process asked about caused %d re-collections, want none", got)
	}

	// A slow-fact event drops the cache.
	gen := s.slowStale.Load()
	s.dropSlowFacts()
	if s.slowStale.Load() == gen {
		t.Fatal("dropSlowFacts() did not move the generation")
	}
	at := s.slowAt
	s.Collect(context.Background(), api.PostureQuery{})
	if s.slowAt.Equal(at) {
		t.Error("Collect after dropSlowFacts reused the cached slow facts, want them read again")
	}
}

// TestCoalescer: a burst is one call; pokes during a call are not lost.
func TestCoalescer(t *testing.T) {
	c := newCoalescer(time.Millisecond, 50*time.Millisecond)
	calls := make(chan time.Time, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.run(ctx, func() { calls <- time.Now() })
	start := time.Now()
	for range 100 {
		c.poke()
	}
	first := <-calls
	if d := first.Sub(start); d > 40*time.Millisecond {
		t.Errorf("first call after %v, want about the settle time (1ms)", d)
	}
	c.poke()
	second := <-calls
	if d := second.Sub(first); d < 50*time.Millisecond {
		t.Errorf("second call %v after the first, want at least the 50ms gap", d)
	}
	select {
	case <-calls:
		t.Error("a third call without a poke")
	case <-time.After(100 * time.Millisecond):
	}
}

// TestProcConnectorRefusedOutsideTheInitialNetns: in another network
// namespace the kernel has no process connector; opening it there must
// fail (so the facts are polled), not succeed and stay silent.
func TestProcConnectorRefusedOutsideTheInitialNetns(t *testing.T) {
	needRoot(t)
	ns := fmt.Sprintf("gh-watchpc-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		testenv.SkipOrFail(t, fmt.Sprintf("ip netns add %s: %v: %s", ns, err, out))
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	_, err := inNetns(t, ns, openProcConnector)
	if err == nil || !errors.Is(err, unix.ECONNREFUSED) {
		t.Errorf("openProcConnector() in a non-initial network namespace = %v, want a refusal naming the namespace", err)
	}
}
