package socks5

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/proxy"

	"github.com/gatehouse-ztna/gatehouse/agent/frontend"
	"github.com/gatehouse-ztna/gatehouse/api"
)

func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		in      string
		wantErr bool
	}{
		{"127.0.0.1:1080", false},
		{"127.0.0.2:0", false},
		{"[::1]:1080", false},
		{"localhost:1080", false},
		{"0.0.0.0:1080", true},
		{"[::]:1080", true},
		{":1080", true},
		{"192.168.1.5:1080", true},
		{"example.com:1080", true},
		{"127.0.0.1", true},
		{"127.0.0.1:99999", true},
	}
	for _, tt := range tests {
		if err := checkLoopback(tt.in); (err != nil) != tt.wantErr {
			t.Errorf("checkLoopback(%q) = %v, wantErr %v", tt.in, err, tt.wantErr)
		}
	}
}

func TestLookup(t *testing.T) {
	s := &Server{apps: map[string][]uint16{"grafana": {3000}, "db": {5432}},
		vips: map[netip.Addr]string{netip.MustParseAddr("100.64.0.7"): "grafana"}}
	s.SetDomain("Corp.Gatehouse")
	tests := []struct {
		in     string
		want   string
		wantOK bool
	}{
		{"grafana", "grafana", true},
		{"GRAFANA", "grafana", true},
		{"grafana.gatehouse", "grafana", true},
		{"grafana.gatehouse.", "grafana", true},
		{"Grafana.Gatehouse", "grafana", true},
		{"grafana.", "grafana", true},
		{"grafana.corp.gatehouse", "grafana", true},
		{"DB.CORP.GATEHOUSE.", "db", true},
		{"grafana.corp", "", false},
		{"grafana.other.gatehouse", "", false},
		{"corp.gatehouse", "", false},
		{"grafana.corp.gatehouse.evil.com", "", false},
		{"grafana.example.com", "", false},
		{"grafana.gatehouse.evil.com", "", false},
		{"evil.com", "", false},
		{"gatehouse", "", false},
		{".gatehouse", "", false},
		{"", "", false},
		{"localhost", "", false},
		{"127.0.0.1", "", false},
		{"100.64.0.7", "grafana", true},
		{"::ffff:100.64.0.7", "grafana", true},
		{"100.64.0.8", "", false},
		{"[::1]", "", false},
	}
	for _, tt := range tests {
		got, ok := s.lookup(tt.in)
		if ok != tt.wantOK || (ok && got != tt.want) {
			t.Errorf("lookup(%q) = %q, %v, want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

// fakeAccess hands out tunnels to real local servers, one per app.
type fakeAccess struct {
	mu      sync.Mutex
	servers map[string]string // app → host of its server (ports are the app's)
	denied  map[string]bool
	asked   []string
	tunnels map[string]*fakeTunnel
}

func (a *fakeAccess) Decision(app string) (api.Decision, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return api.Decision{App: app, Allowed: !a.denied[app]}, true
}

func (a *fakeAccess) Tunnel(_ context.Context, app string) (frontend.Tunnel, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.asked = append(a.asked, app)
	if a.denied[app] {
		return nil, errors.New("access denied: posture.disk_encrypted")
	}
	t := a.tunnels[app]
	if t == nil {
		t = &fakeTunnel{addr: a.servers[app], conns: map[net.Conn]bool{}}
		a.tunnels[app] = t
	}
	return t, nil
}

func (a *fakeAccess) askedFor() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.asked...)
}

type fakeTunnel struct {
	addr   string
	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
}

func (t *fakeTunnel) Dial(ctx context.Context, _ uint16) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", t.addr)
}

func (t *fakeTunnel) Track(cs ...net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	for _, c := range cs {
		t.conns[c] = true
	}
	return true
}

func (t *fakeTunnel) Untrack(cs ...net.Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range cs {
		delete(t.conns, c)
	}
}

// abort ends access as the agent does: every tracked connection reset.
func (t *fakeTunnel) abort() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	n := 0
	for c := range t.conns {
		if l, ok := c.(interface{ SetLinger(int) error }); ok {
			l.SetLinger(0)
		}
		c.Close()
		n++
	}
	return n
}

// echoServer is a real TCP app server that echoes.
func echoServer(t *testing.T) string {
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
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return l.Addr().String()
}

func startServer(t *testing.T, uid int, tune ...func(*Server)) (*Server, *fakeAccess) {
	t.Helper()
	app := echoServer(t)
	access := &fakeAccess{servers: map[string]string{"grafana": app, "denied": app},
		denied: map[string]bool{"denied": true}, tunnels: map[string]*fakeTunnel{}}
	s, err := Listen(Config{Listen: "127.0.0.1:0", LocalUID: uid, LocalUserName: "test"}, access)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	for _, f := range tune {
		f(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s.SetApps(ctx, []api.AppInfo{{Name: "grafana", Ports: []uint16{3000}, VirtualIP: "100.64.0.7"},
		{Name: "denied", Ports: []uint16{80}, VirtualIP: "100.64.0.9"}})
	return s, access
}

func socksDial(t *testing.T, s *Server, dest string) (net.Conn, error) {
	t.Helper()
	d, err := proxy.SOCKS5("tcp", s.Addr(), nil, &net.Dialer{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return d.Dial("tcp", dest)
}

func echoes(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatalf("write through SOCKS: %v", err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("read through SOCKS = %q, %v, want ping", buf, err)
	}
}

func TestSOCKS5Destinations(t *testing.T) {
	s, access := startServer(t, os.Getuid())
	tests := []struct {
		dest    string
		wantErr string // part of the SOCKS reply's text; "" succeeds
	}{
		{"grafana:3000", ""},
		{"grafana.gatehouse:3000", ""},
		{"GRAFANA.gatehouse.:3000", ""},
		{"evil.example.com:80", "host unreachable"},
		{"localhost:3000", "host unreachable"},
		{"grafana.gatehouse.evil.com:3000", "host unreachable"},
		{"grafana:22", "not allowed by ruleset"},
		{"127.0.0.1:3000", "not allowed by ruleset"},
		{"[::1]:3000", "not allowed by ruleset"},
		{"100.64.0.7:3000", ""},
		{"100.64.0.7:22", "not allowed by ruleset"},
		{"100.64.0.8:3000", "not allowed by ruleset"},
		{"denied:80", "not allowed by ruleset"},
	}
	refused := 0
	for _, tt := range tests {
		c, err := socksDial(t, s, tt.dest)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("SOCKS CONNECT %s = %v, want success", tt.dest, err)
				continue
			}
			echoes(t, c)
			c.Close()
			continue
		}
		if err == nil {
			c.Close()
			t.Errorf("SOCKS CONNECT %s succeeded, want %q", tt.dest, tt.wantErr)
			continue
		}
		if !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("SOCKS CONNECT %s = %v, want %q", tt.dest, err, tt.wantErr)
		}
		if tt.dest != "denied:80" {
			refused++
		}
	}
	// Only the app's own port and the denied app reached the agent.
	for _, app := range access.askedFor() {
		if app != "grafana" && app != "denied" {
			t.Errorf("a tunnel was asked for %q", app)
		}
	}
	if got := len(access.askedFor()); got != 5 {
		t.Errorf("tunnels asked for %d times (%v), want 5", got, access.askedFor())
	}
	if got := s.Stats().RefusedRequests; got != int64(refused) {
		t.Errorf("Stats().RefusedRequests = %d, want %d", got, refused)
	}
}

func TestSOCKS5AbortResets(t *testing.T) {
	s, access := startServer(t, os.Getuid())
	c, err := socksDial(t, s, "grafana:3000")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	echoes(t, c)
	access.mu.Lock()
	tun := access.tunnels["grafana"]
	access.mu.Unlock()
	if n := tun.abort(); n != 2 {
		t.Fatalf("abort reset %d tracked connections, want 2 (client and app)", n)
	}
	c.SetDeadline(time.Now().Add(time.Second))
	_, err = c.Read(make([]byte, 1))
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after abort = %v, want a reset", err)
	}
	// A new flow finds access ended: refused, never served.
	if c2, err := socksDial(t, s, "grafana:3000"); err == nil {
		c2.Close()
		t.Fatal("SOCKS CONNECT after access ended succeeded")
	}
}

func TestSOCKS5OtherUserRefused(t *testing.T) {
	s, access := startServer(t, os.Getuid()+1)
	if c, err := socksDial(t, s, "grafana:3000"); err == nil {
		c.Close()
		t.Fatal("SOCKS CONNECT from another local user succeeded")
	}
	if got := s.Stats().RefusedCallers; got != 1 {
		t.Errorf("Stats().RefusedCallers = %d, want 1", got)
	}
	if got := access.askedFor(); len(got) != 0 {
		t.Errorf("tunnels asked for %v for a refused caller, want none", got)
	}
}

// TestSOCKS5OnlyConnect: BIND and UDP ASSOCIATE to an app are refused
// with "not allowed by ruleset", and no tunnel is asked for.
func TestSOCKS5OnlyConnect(t *testing.T) {
	s, access := startServer(t, os.Getuid())
	for _, cmd := range []byte{2, 3} { // BIND, UDP ASSOCIATE
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		req := append([]byte{5, 1, 0, 5, cmd, 0, 3, byte(len("grafana"))}, "grafana"...)
		req = append(req, 3000>>8, 3000&0xff)
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		reply := make([]byte, 4)
		if _, err := io.ReadFull(c, reply[:2]); err != nil || reply[1] != 0 {
			t.Fatalf("SOCKS greeting reply = %v, %v, want no-auth", reply[:2], err)
		}
		if _, err := io.ReadFull(c, reply); err != nil || reply[1] != 2 {
			t.Errorf("SOCKS command %d reply = %v, %v, want code 2 (not allowed by ruleset)", cmd, reply, err)
		}
		c.Close()
	}
	if got := access.askedFor(); len(got) != 0 {
		t.Errorf("tunnels asked for %v, want none", got)
	}
	if got := s.Stats().RefusedRequests; got != 2 {
		t.Errorf("Stats().RefusedRequests = %d, want 2", got)
	}
}

// TestSOCKS5SilentClientDropped: a client that connects and sends nothing
// is closed after the handshake wait; a flow once carried outlives it.
func TestSOCKS5SilentClientDropped(t *testing.T) {
	s, _ := startServer(t, os.Getuid(), func(s *Server) { s.handshakeWait = 200 * time.Millisecond })
	flow, err := socksDial(t, s, "grafana:3000")
	if err != nil {
		t.Fatal(err)
	}
	defer flow.Close()
	silent, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read on a silent SOCKS connection = %v, want EOF (closed by the agent)", err)
	}
	time.Sleep(300 * time.Millisecond) // past the handshake wait
	echoes(t, flow)
}
