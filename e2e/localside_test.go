package e2e

// The agent's local side: who may use a proxy port, which HTTP Host a
// request may name, server-first protocols, and how a local connection
// ends when access ends.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent"
	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
	"github.com/gatehouse-ztna/gatehouse/internal/testenv"
)

// badPosture fails the "secure" profile of Standard.
const badPosture = `{"disk_encryption": false, "firewall": true}`

// asNobody runs a bash script as uid/gid 65534 with no groups and returns
// its output and exit code. The test is skipped where that is impossible.
func asNobody(t *testing.T, script string) (string, int) {
	t.Helper()
	if os.Getuid() != 0 {
		testenv.SkipOrFail(t, "needs root to run a client as another local user")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		testenv.SkipOrFail(t, "needs setpriv (util-linux) to run a client as another local user")
	}
	out, err := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "bash", "-c", script).CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run client as nobody: %v", err)
	}
	return string(out), cmdExitCode(err)
}

func cmdExitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return 0
}

// peers is how many WireGuard peers the gateway holds: each is a grant.
func peers(env *Env) int { return len(env.Gateway.Peers(context.Background())) }

func TestLocalPortServesOnlyTheDevicesUser(t *testing.T) {
	env, a := NewStandard(t, Options{})
	addr := a.Addr("grafana")
	host, port, _ := net.SplitHostPort(addr)
	// A plain HTTP GET with bash's /dev/tcp, run as another local user.
	script := fmt.Sprintf(`exec 3<>/dev/tcp/%s/%s || exit 3
trap '' PIPE
printf 'GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' >&3 2>/dev/null
timeout 5 cat <&3
echo "cat exit $?"`, host, port, addr)
	out, code := asNobody(t, script)
	// cat ends with 0 on a close, 1 on a reset, 124 if still open after 5 s.
	if strings.Contains(out, "hello from") || code != 0 || !(strings.Contains(out, "cat exit 0") || strings.Contains(out, "cat exit 1")) {
		t.Fatalf("another local user's GET through %s: exit %d, output %q; want the connection closed with no app bytes", addr, code, out)
	}
	if got := a.Status().RefusedCallers; got != 1 {
		t.Errorf("Status().RefusedCallers = %d, want 1", got)
	}
	if !env.Logs.Contains("local connection refused: the caller is another local user") {
		t.Error("no log line for the refused caller")
	}
	if n := peers(env); n != 0 {
		t.Errorf("gateway peers after a refused caller = %d, want 0 (no grant may be asked for)", n)
	}
	// The device's own user (root here, who runs the test) is served.
	if body, err := a.Get("grafana", "/"); err != nil || body != "hello from grafana" {
		t.Fatalf("Get as the device's user = %q, %v", body, err)
	}
	status := a.run(t, "status")
	for _, want := range []string{"local user: root (uid 0)", "refused:    1 connections from other local users"} {
		if !strings.Contains(status, want) {
			t.Errorf("gatehouse status = %q, want it to contain %q", status, want)
		}
	}
}

// rawGet sends one GET with host as the Host header through addr and
// returns the status code and body.
func rawGet(t *testing.T, addr, host string) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	Must(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("GET with Host %q through %s: %v", host, addr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestLocalPortRefusesRequestsForAnotherHost(t *testing.T) {
	env, a := NewStandard(t, Options{})
	addr := a.Addr("grafana")
	_, port, _ := net.SplitHostPort(addr)
	refused := []string{"evil.example:" + port, "evil.example", "127.0.0.1.nip.io:" + port}
	for _, host := range refused {
		code, body := rawGet(t, addr, host)
		if code != http.StatusMisdirectedRequest || !strings.Contains(body, "DNS rebinding") {
			t.Errorf("GET with Host %q = %d %q, want 421 saying why", host, code, body)
		}
	}
	if n := peers(env); n != 0 {
		t.Errorf("gateway peers after refused requests = %d, want 0 (no grant may be asked for)", n)
	}
	if got := a.Status().RefusedRequests; got != int64(len(refused)) {
		t.Errorf("Status().RefusedRequests = %d, want %d", got, len(refused))
	}
	for _, host := range []string{addr, "localhost:" + port, "grafana", "grafana:" + port} {
		if code, body := rawGet(t, addr, host); code != http.StatusOK || body != "hello from grafana" {
			t.Errorf("GET with Host %q = %d %q, want 200 from grafana", host, code, body)
		}
	}
	if body, err := a.Get("grafana", "/"); err != nil || body != "hello from grafana" {
		t.Errorf("a.Get = %q, %v", body, err)
	}
}

// addApp creates app with upstream, allowed to eng under "secure".
func addApp(t testing.TB, env *Env, app, upstream string) {
	t.Helper()
	ctx := context.Background()
	Must(t, adminclient.Create(ctx, env.Admin, api.PathApps, &api.App{Name: app, Upstreams: []string{upstream}}))
	Must(t, adminclient.Create(ctx, env.Admin, api.PathPolicies, &api.Policy{Name: "eng-" + app, Groups: []string{"eng"},
		Apps: []string{app}, PostureProfiles: []string{"secure"}}))
}

// serve listens on loopback and runs handle for each connection, which it
// then closes, until the test ends.
func serve(tb testing.TB, handle func(*net.TCPConn)) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Must(tb, err)
	tb.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c.(*net.TCPConn))
			}()
		}
	}()
	return l.Addr().String()
}

// TestServerFirstProtocolThroughLocalPort: an SMTP-like app that speaks
// first works through a local port, paying the wait for client bytes once.
func TestServerFirstProtocolThroughLocalPort(t *testing.T) {
	env, a := NewStandard(t, Options{})
	addApp(t, env, "mail", serve(t, func(c *net.TCPConn) {
		fmt.Fprint(c, "220 mail ready\r\n")
		line, _ := bufio.NewReader(c).ReadString('\n')
		fmt.Fprintf(c, "221 bye, you said %s", line)
	}))
	a.Decision("mail", true, 5*time.Second)
	addr := a.Addr("mail")
	banner := func() (time.Duration, string) {
		start := time.Now()
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		Must(t, err)
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		r := bufio.NewReader(c)
		first, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("banner through %s: %v (a server-first app must not wait for the client)", addr, err)
		}
		took := time.Since(start)
		fmt.Fprint(c, "QUIT\r\n")
		second, _ := r.ReadString('\n')
		return took, first + second
	}
	cold, got := banner()
	if want := "220 mail ready\r\n221 bye, you said QUIT\r\n"; got != want {
		t.Fatalf("conversation = %q, want %q", got, want)
	}
	warm, _ := banner()
	t.Logf("time to the server's first line: cold %s, warm %s (includes the %s wait for client bytes)", cold, warm, 50*time.Millisecond)
}

// revocationClock records when the agent logs a revocation.
type revocationClock struct {
	slog.Handler
	at chan time.Time
}

func (h revocationClock) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "access revoked" {
		select {
		case h.at <- r.Time:
		default:
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h revocationClock) WithAttrs(as []slog.Attr) slog.Handler {
	return revocationClock{h.Handler.WithAttrs(as), h.at}
}

func (h revocationClock) WithGroup(name string) slog.Handler {
	return revocationClock{h.Handler.WithGroup(name), h.at}
}

// newBulkEnv is Standard plus app "bulk", whose upstream streams 64 KiB
// chunks from a 4 MiB socket buffer as fast as it can to whoever connects,
// and alice's agent, whose revocations are timed.
func newBulkEnv(tb testing.TB) (*Env, *Agent, chan time.Time) {
	tb.Helper()
	env := New(tb, Options{})
	env.Standard(tb)
	chunk := make([]byte, 64<<10)
	addApp(tb, env, "bulk", serve(tb, func(c *net.TCPConn) {
		c.SetWriteBuffer(4 << 20)
		for {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}))
	revoked := make(chan time.Time, 1)
	a := env.AgentWith(tb, "alice", func(cfg *agent.Config) {
		cfg.Logger = slog.New(revocationClock{cfg.Logger.Handler(), revoked})
	})
	a.Decision("bulk", true, 5*time.Second)
	return env, a, revoked
}

// slowRead is a client of a local port that reads 1 KiB every 10 ms from
// a 4 MiB receive buffer, while the app sends much faster.
type slowRead struct {
	conn  *net.TCPConn
	reads chan readEvent
}

type readEvent struct {
	at  time.Time
	n   int
	err error
}

func openSlowRead(tb testing.TB, addr string) *slowRead {
	tb.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	Must(tb, err)
	tb.Cleanup(func() { c.Close() })
	s := &slowRead{conn: c.(*net.TCPConn), reads: make(chan readEvent, 4096)}
	Must(tb, s.conn.SetReadBuffer(4<<20))
	go func() {
		defer close(s.reads)
		buf := make([]byte, 1<<10)
		for {
			s.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, err := s.conn.Read(buf)
			s.reads <- readEvent{time.Now(), n, err}
			if err != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return s
}

// until collects reads until one fails, and returns that one and the
// bytes read after since.
func (s *slowRead) untilEnd(tb testing.TB, since <-chan time.Time, within time.Duration) (end readEvent, revokedAt time.Time, after int) {
	tb.Helper()
	var got []readEvent
	deadline := time.After(within)
	for {
		select {
		case ev, ok := <-s.reads:
			if !ok {
				tb.Fatal("reader stopped without an error")
			}
			got = append(got, ev)
			if ev.err == nil {
				continue
			}
			select {
			case revokedAt = <-since:
			case <-time.After(5 * time.Second):
				tb.Fatal("the agent never logged the revocation")
			}
			for _, e := range got {
				if !e.at.Before(revokedAt) {
					after += e.n
				}
			}
			return ev, revokedAt, after
		case <-deadline:
			tb.Fatalf("slow reader still reading %s after the posture flip (%d reads)", within, len(got))
		}
	}
}

// TestRevocationResetsASlowReader: when access ends, a local client that
// reads slower than the app sends sees a reset at once, not the megabytes
// queued for it before the decision.
func TestRevocationResetsASlowReader(t *testing.T) {
	_, a, revoked := newBulkEnv(t)
	s := openSlowRead(t, a.Addr("bulk"))
	var before int
	for start := time.Now(); time.Since(start) < time.Second; {
		ev := <-s.reads
		if ev.err != nil {
			t.Fatalf("slow read before the flip: %v", ev.err)
		}
		before += ev.n
	}
	a.SetPosture(badPosture)
	end, revokedAt, after := s.untilEnd(t, revoked, 10*time.Second)
	lag := end.at.Sub(revokedAt)
	t.Logf("read %d bytes before the flip; after the agent logged the revocation: %d bytes in %s, then %v", before, after, lag, end.err)
	if !errors.Is(end.err, syscall.ECONNRESET) {
		t.Errorf("the slow reader's connection ended with %v, want a reset (ECONNRESET), not an orderly close", end.err)
	}
	if lag > 100*time.Millisecond {
		t.Errorf("reads failed %s after the agent logged the revocation, want within 100ms", lag)
	}
	if after > 16<<10 {
		t.Errorf("%d bytes reached the reader after the revocation, want at most 16 KiB (what it reads in under 100 ms + one read)", after)
	}
	s.conn.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := s.conn.Read(make([]byte, 1024)); n != 0 || err == nil {
		t.Errorf("Read after the reset = %d, %v; want no more bytes and an error", n, err)
	}
}
