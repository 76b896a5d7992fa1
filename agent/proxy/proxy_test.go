package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent/frontend"
	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/tunnel"
)

// fakeAccess hands out tunnels whose Dial reaches an upstream on
// loopback, and counts what the front-end asked.
type fakeAccess struct {
	upstream string

	mu      sync.Mutex // guards the fields below
	asked   int        // Tunnel calls
	tracked []net.Conn // every connection a flow registered
}

func (f *fakeAccess) Decision(string) (api.Decision, bool) { return api.Decision{}, false }

func (f *fakeAccess) Tunnel(context.Context, string) (frontend.Tunnel, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked++
	return fakeTunnel{f}, nil
}

// endAccess aborts every tracked connection, as the state machine does.
func (f *fakeAccess) endAccess() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.tracked {
		tunnel.Abort(c)
	}
}

func (f *fakeAccess) counts() (asked, tracked int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.asked, len(f.tracked)
}

type fakeTunnel struct{ f *fakeAccess }

func (t fakeTunnel) Dial(ctx context.Context, _ uint16) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", t.f.upstream)
}

func (t fakeTunnel) Track(cs ...net.Conn) bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	t.f.tracked = append(t.f.tracked, cs...)
	return true
}

func (t fakeTunnel) Untrack(...net.Conn) {}

// echoUpstream answers every line with "echo: " and the line.
func echoUpstream(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s := bufio.NewScanner(c)
				for s.Scan() {
					fmt.Fprintf(c, "echo: %s\n", s.Text())
				}
			}()
		}
	}()
	return l.Addr().String()
}

// startProxy serves app "grafana" port 3000 for the local user uid.
func startProxy(t *testing.T, uid int) (*Proxy, *fakeAccess, string) {
	t.Helper()
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip("the caller check needs Linux")
	}
	access := &fakeAccess{upstream: echoUpstream(t)}
	p := New(Config{ListenHost: "127.0.0.1", LocalUser: LocalUser{UID: uid, Name: fmt.Sprintf("uid %d", uid)}}, access)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); p.Close() })
	p.SetApps(ctx, []api.AppInfo{{Name: "grafana", Ports: []uint16{3000}}})
	addr := p.LocalAddr("grafana", 3000)
	if addr == "" {
		t.Fatal("LocalAddr(grafana, 3000) = \"\", want a local port")
	}
	return p, access, addr
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

func TestProxyCarriesAFlowAndAbortsItWhenAccessEnds(t *testing.T) {
	_, access, addr := startProxy(t, os.Getuid())
	c := dial(t, addr)
	fmt.Fprintf(c, "ping\n")
	r := bufio.NewReader(c)
	if line, err := r.ReadString('\n'); err != nil || line != "echo: ping\n" {
		t.Fatalf("read through the proxy = %q, %v, want %q", line, err, "echo: ping\n")
	}
	if asked, tracked := access.counts(); asked != 1 || tracked != 2 {
		t.Errorf("Tunnel asked %d times, %d connections tracked; want 1 and 2 (both ends of the flow)", asked, tracked)
	}
	access.endAccess()
	if _, err := r.ReadByte(); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("read after access ended = %v, want ECONNRESET", err)
	}
}

func TestProxyAsksForNoTunnelForAnotherLocalUser(t *testing.T) {
	p, access, addr := startProxy(t, os.Getuid()+4242)
	c := dial(t, addr)
	fmt.Fprintf(c, "ping\n")
	if _, err := io.ReadAll(c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read from a refused connection = %v, want EOF or a reset", err)
	}
	if asked, _ := access.counts(); asked != 0 {
		t.Errorf("Tunnel asked %d times for another local user's connection, want 0", asked)
	}
	if got := p.Stats().RefusedCallers; got != 1 {
		t.Errorf("Stats().RefusedCallers = %d, want 1", got)
	}
}

func TestProxyAsksForNoTunnelForAnotherHost(t *testing.T) {
	p, access, addr := startProxy(t, os.Getuid())
	c := dial(t, addr)
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("GET with Host evil.example = %v, %v, want 421", resp, err)
	}
	if asked, _ := access.counts(); asked != 0 {
		t.Errorf("Tunnel asked %d times for a request naming another host, want 0", asked)
	}
	if got := p.Stats().RefusedRequests; got != 1 {
		t.Errorf("Stats().RefusedRequests = %d right after the 421, want 1", got)
	}
}

func TestProxySetAppsClosesPortsOfAppsThatLeft(t *testing.T) {
	p, _, addr := startProxy(t, os.Getuid())
	p.SetApps(context.Background(), []api.AppInfo{{Name: "wiki", Ports: []uint16{80}}})
	if got := p.LocalAddr("grafana", 3000); got != "" {
		t.Errorf("LocalAddr(grafana, 3000) after grafana left = %q, want \"\"", got)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("dial %s after grafana left = connected, want refused", addr)
	}
	if p.LocalAddr("wiki", 80) == "" {
		t.Error("LocalAddr(wiki, 80) = \"\", want a local port")
	}
	p.Close()
	p.SetApps(context.Background(), []api.AppInfo{{Name: "grafana", Ports: []uint16{3000}}})
	if got := p.LocalAddr("grafana", 3000); got != "" {
		t.Errorf("LocalAddr after Close and SetApps = %q, want \"\" (a closed proxy opens nothing)", got)
	}
}
