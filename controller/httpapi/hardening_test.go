package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
	"github.com/gatehouse-ztna/gatehouse/controller"
)

// syncBuffer is a log sink tests can measure while the controller writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startWith runs a plain-HTTP controller on loopback with limits and
// returns it, an admin client and its log.
func startWith(t *testing.T, limits Limits) (*testController, *adminclient.Client, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	c := mustStart(t, t.TempDir(), Config{Listen: "127.0.0.1:0", InsecureHTTP: true,
		Limits: limits, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	return c, ownerClient(t, c, nil), logs
}

// clientFrom is an HTTP client whose connections come from the loopback
// address src (127.0.0.0/8 is all loopback), so tests can be two sources.
func clientFrom(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

func post(t *testing.T, cl *http.Client, url, body string) (int, string, http.Header) {
	t.Helper()
	return send(t, cl, http.MethodPost, url, body)
}

func send(t *testing.T, cl *http.Client, method, url, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, controller.Clip(url), err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e api.ErrorResponse
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return resp.StatusCode, e.Error, resp.Header
	}
	return resp.StatusCode, string(b), resp.Header
}

func enrollBody(t *testing.T, token, hostname string) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(api.EnrollRequest{Token: token, PublicKey: base64.StdEncoding.EncodeToString(pub), Hostname: hostname})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newToken(t *testing.T, admin *adminclient.Client, user string) api.EnrollmentToken {
	t.Helper()
	if _, err := adminclient.Get[api.User](context.Background(), admin, api.PathUsers, user); err != nil {
		mustCreate(t, admin, api.PathUsers, api.User{Name: user})
	}
	tok, err := admin.EnrollmentToken(context.Background(), user, time.Hour)
	if err != nil {
		t.Fatalf("EnrollmentToken(%q) = %v", user, err)
	}
	return tok
}

func TestOversizedUnauthenticatedInputDoesNotGrowTheLog(t *testing.T) {
	c, admin, logs := startWith(t, Limits{})
	tok := newToken(t, admin, "alice")
	cl := clientFrom("127.0.0.1")
	huge := strings.Repeat("A", 1<<20)
	tests := []struct {
		name               string
		method, path, body string
		wantStatus         int
		wantMsg            string
	}{
		{name: "1 MiB enrollment body", path: api.PathEnroll, body: enrollBody(t, tok.Token, huge),
			wantStatus: http.StatusRequestEntityTooLarge, wantMsg: "the limit here is 4096 bytes"},
		{name: "1 MiB unknown field", path: api.PathEnroll, body: `{"` + huge + `": 1}`,
			wantStatus: http.StatusRequestEntityTooLarge, wantMsg: "request body too large"},
		// Under the body limit, over the hostname limit: refused, and the
		// log holds a clipped hostname.
		{name: "4000-byte hostname", path: api.PathEnroll, body: enrollBody(t, tok.Token, strings.Repeat("h", 3900)),
			wantStatus: http.StatusBadRequest, wantMsg: "use 1-253 letters, digits"},
		{name: "15 KiB path without a token", method: http.MethodPut, path: api.PathUsers + "/" + strings.Repeat("p", 15<<10), body: "{}",
			wantStatus: http.StatusUnauthorized, wantMsg: "missing or wrong admin token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := logs.Len()
			if tt.method == "" {
				tt.method = http.MethodPost
			}
			status, msg, _ := send(t, cl, tt.method, c.URL()+tt.path, tt.body)
			if status != tt.wantStatus || !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("POST %s (%d bytes) = %d %.200q, want %d and %q", controller.Clip(tt.path), len(tt.body), status, msg, tt.wantStatus, tt.wantMsg)
			}
			if grew := logs.Len() - before; grew == 0 || grew > 1024 {
				t.Errorf("log grew by %d bytes for a %d-byte request, want a line of at most 1 KiB", grew, len(tt.body)+len(tt.path))
			}
			t.Logf("a %d-byte request grew the log by %d bytes", len(tt.body)+len(tt.path), logs.Len()-before)
		})
	}
	// The token was never used: the device enrolls with it now.
	if status, msg, _ := post(t, cl, c.URL()+api.PathEnroll, enrollBody(t, tok.Token, "laptop")); status != http.StatusOK {
		t.Errorf("enroll after refused attempts = %d %q, want 200 (the token still unused)", status, msg)
	}
}

func TestEnrollmentRefusesBadHostnames(t *testing.T) {
	c, admin, _ := startWith(t, Limits{})
	cl := clientFrom("127.0.0.1")
	tok := newToken(t, admin, "alice")
	tests := []struct {
		name string
		in   string
	}{
		{name: "empty", in: ""},
		{name: "254 characters", in: strings.Repeat("a", 254)},
		{name: "terminal escape that clears the screen", in: "laptop\x1b[2J"},
		{name: "OSC 52 clipboard write", in: "x\x1b]52;c;ZXZpbA==\x07"},
		{name: "newline forging a second table row", in: "laptop\nbob-laptop"},
		{name: "tab breaking the columns", in: "lap\ttop"},
		{name: "bidi override", in: "laptop\u202egnp.exe"},
		{name: "space", in: "alice laptop"},
		{name: "NUL", in: "laptop\x00"},
		{name: "non-ASCII look-alike", in: "lаptop"}, // Cyrillic а
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, msg, _ := post(t, cl, c.URL()+api.PathEnroll, enrollBody(t, tok.Token, tt.in))
			if status != http.StatusBadRequest || !strings.Contains(msg, "use 1-253 letters, digits, '.', '-' or '_'") {
				t.Errorf("enroll with hostname %q = %d %q, want 400 saying which characters to use", tt.in, status, msg)
			}
		})
	}
	devs, err := adminclient.List[api.Device](context.Background(), admin, api.PathDevices)
	if err != nil || len(devs) != 0 {
		t.Fatalf("List(devices) after refused enrollments = %+v, %v, want none", devs, err)
	}
	for _, good := range []string{"a", "alice-laptop.corp.example.com", "WIN_DESKTOP-01", strings.Repeat("a", 253)} {
		tok := newToken(t, admin, "alice")
		if status, msg, _ := post(t, cl, c.URL()+api.PathEnroll, enrollBody(t, tok.Token, good)); status != http.StatusOK {
			t.Errorf("enroll with hostname %q = %d %q, want 200", good, status, msg)
		}
	}
}

func TestSourceLimiter(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := newSourceLimiter("attempts", Rate{Every: time.Second, Burst: 2}, func() time.Time { return now })
	a, b := source("192.0.2.1:1000"), source("192.0.2.2:1000")
	steps := []struct {
		name     string
		src      netip.Prefix
		advance  time.Duration
		want     bool
		wantWait time.Duration
	}{
		{name: "first of the burst", src: a, want: true},
		{name: "second of the burst", src: a, want: true},
		{name: "burst spent", src: a, want: false, wantWait: time.Second},
		{name: "refused attempts do not push the wait out", src: a, want: false, wantWait: time.Second},
		{name: "another source has its own bucket", src: b, want: true},
		{name: "half a refill is not enough", src: a, advance: 500 * time.Millisecond, want: false, wantWait: 500 * time.Millisecond},
		{name: "a token after one interval", src: a, advance: 500 * time.Millisecond, want: true},
		{name: "and only one", src: a, want: false, wantWait: time.Second},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		got, wait := l.allow(s.src)
		if got != s.want || wait != s.wantWait {
			t.Errorf("%s: allow(%v) = %v, %v, want %v, %v", s.name, s.src, got, wait, s.want, s.wantWait)
		}
	}
}

func TestSource(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"127.0.0.1:5000", "127.0.0.1/32"},
		{"127.0.0.2:5000", "127.0.0.2/32"},
		{"[::ffff:192.0.2.1]:5000", "192.0.2.1/32"},
		{"[2001:db8:1:2:3:4:5:6]:5000", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:80", "2001:db8:1:2::/64"},
		{"pipe", "invalid Prefix"},
	}
	for _, tt := range tests {
		if got := source(tt.in).String(); got != tt.want {
			t.Errorf("source(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestSourceLimiterForgetsRefilledSourcesWhenFull(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := newSourceLimiter("attempts", Rate{Every: time.Second, Burst: 1}, func() time.Time { return now })
	for i := range maxSources {
		l.allow(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32))
	}
	now = now.Add(2 * time.Second)
	l.allow(source("192.0.2.1:1"))
	if n := len(l.sources); n > maxSources {
		t.Errorf("len(sources) = %d after %d sources, want at most %d", n, maxSources+1, maxSources)
	}
}

func TestEnrollmentIsRateLimitedPerSource(t *testing.T) {
	c, admin, logs := startWith(t, Limits{Enroll: Rate{Every: time.Hour, Burst: 3}})
	tok := newToken(t, admin, "alice")
	first, second := clientFrom("127.0.0.1"), clientFrom("127.0.0.2")
	for i := range 3 {
		if status, msg, _ := post(t, first, c.URL()+api.PathEnroll, enrollBody(t, "ghe_guess", "laptop")); status != http.StatusForbidden {
			t.Fatalf("guess %d from 127.0.0.1 = %d %q, want 403 within the burst", i+1, status, msg)
		}
	}
	status, msg, hdr := post(t, first, c.URL()+api.PathEnroll, enrollBody(t, tok.Token, "laptop"))
	if status != http.StatusTooManyRequests || !strings.Contains(msg, "too many enrollment attempts from 127.0.0.1") || hdr.Get("Retry-After") == "" {
		t.Errorf("4th enrollment from 127.0.0.1 = %d %q (Retry-After %q), want 429 with a Retry-After", status, msg, hdr.Get("Retry-After"))
	}
	if !strings.Contains(logs.String(), "request refused: rate limit") {
		t.Errorf("log lacks the refusal:\n%s", logs)
	}
	// The refused attempt did not use the token; another source enrolls with it.
	if status, msg, _ := post(t, second, c.URL()+api.PathEnroll, enrollBody(t, tok.Token, "laptop")); status != http.StatusOK {
		t.Errorf("enrollment from 127.0.0.2 = %d %q, want 200 (its own bucket, and the token unused)", status, msg)
	}
}

// dialAgent opens the agent websocket from src and returns the HTTP status
// of the upgrade and, when it succeeded, the connection.
func dialAgent(t *testing.T, c *testController, src string) (int, *websocket.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, c.URL()+api.AgentWebsocketPath, &websocket.DialOptions{HTTPClient: clientFrom(src)})
	if err != nil {
		if resp == nil {
			t.Fatalf("websocket.Dial from %s: %v", src, err)
		}
		return resp.StatusCode, nil
	}
	t.Cleanup(func() { conn.CloseNow() })
	return http.StatusSwitchingProtocols, conn
}

func TestAgentConnectionsAreRateLimitedPerSource(t *testing.T) {
	c, _, _ := startWith(t, Limits{AgentAuth: Rate{Every: time.Hour, Burst: 2}})
	for i := range 2 {
		if status, _ := dialAgent(t, c, "127.0.0.1"); status != http.StatusSwitchingProtocols {
			t.Fatalf("agent connection %d from 127.0.0.1 = %d, want 101 within the burst", i+1, status)
		}
	}
	if status, _ := dialAgent(t, c, "127.0.0.1"); status != http.StatusTooManyRequests {
		t.Errorf("3rd agent connection from 127.0.0.1 = %d, want 429", status)
	}
	if status, _ := dialAgent(t, c, "127.0.0.2"); status != http.StatusSwitchingProtocols {
		t.Errorf("agent connection from 127.0.0.2 = %d, want 101 (its own bucket)", status)
	}
}

// An upgraded agent websocket is not cut by the HTTP read and write
// timeouts (net/http clears them on hijack; this keeps it so).
func TestAgentWebsocketOutlivesHTTPTimeouts(t *testing.T) {
	c, _, _ := startWith(t, Limits{ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond})
	_, conn := dialAgent(t, c, "127.0.0.1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := conn.Read(ctx); err != nil { // hello
		t.Fatalf("read hello: %v", err)
	}
	time.Sleep(600 * time.Millisecond)
	if err := conn.Write(ctx, websocket.MessageText, []byte("{auth")); err != nil {
		t.Fatalf("write after %s: %v, want the connection still open", 600*time.Millisecond, err)
	}
	_, data, err := conn.Read(ctx)
	var env api.Envelope
	if err != nil || json.Unmarshal(data, &env) != nil || env.Type != api.TypeError {
		t.Errorf("answer to a malformed auth after the HTTP timeouts = %q, %v, want an error message", data, err)
	}
}

// A client that trickles its headers is dropped after ReadHeaderTimeout.
func TestSlowHeadersAreDropped(t *testing.T) {
	c, _, _ := startWith(t, Limits{ReadHeaderTimeout: 300 * time.Millisecond})
	conn, err := net.Dial("tcp", c.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		io.Copy(io.Discard, conn) // returns when the server closes
		closed <- time.Since(start)
	}()
	if _, err := conn.Write([]byte("GET /api/v1/users HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case d := <-closed:
			if d > 2*time.Second {
				t.Errorf("slow client dropped after %s, want about %s", d, 300*time.Millisecond)
			}
			t.Logf("slow client dropped after %s", d.Round(time.Millisecond))
			return
		case <-tick.C:
			if time.Since(start) > 5*time.Second {
				t.Fatalf("a client sending one header every 100 ms still connected after %s", time.Since(start).Round(time.Millisecond))
			}
			conn.Write([]byte(fmt.Sprintf("X-Slow-%d: y\r\n", i)))
		}
	}
}

// A client that opens a TLS connection and says nothing is dropped too.
func TestSilentTLSClientIsDropped(t *testing.T) {
	c := mustStart(t, t.TempDir(), Config{Listen: "127.0.0.1:0", Limits: Limits{ReadHeaderTimeout: 300 * time.Millisecond}})
	conn, err := net.Dial("tcp", c.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	_, err = conn.Read(make([]byte, 1))
	if d := time.Since(start); err == nil || d > 2*time.Second {
		t.Errorf("silent TLS client: Read = %v after %s, want the connection closed within about %s", err, d, 300*time.Millisecond)
	}
}

func TestConnectionCap(t *testing.T) {
	// No admin client: its idle keep-alive connection would hold a slot.
	c := mustStart(t, t.TempDir(), Config{Listen: "127.0.0.1:0", InsecureHTTP: true, Limits: Limits{MaxConns: 2}})
	var held []net.Conn
	for range 2 {
		conn, err := net.Dial("tcp", c.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		held = append(held, conn)
	}
	third, err := net.Dial("tcp", c.Addr().String()) // the kernel accepts it; the controller does not serve it
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	if _, err := third.Write([]byte("GET /api/v1/users HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(third)
	third.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if line, err := r.ReadString('\n'); err == nil {
		t.Fatalf("3rd connection with MaxConns 2 answered %q, want no answer while two are open", line)
	}
	held[0].Close()
	third.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, err := r.ReadString('\n'); err != nil || !strings.Contains(line, "401") {
		t.Errorf("3rd connection after one closed = %q, %v, want it served (401 without a token)", line, err)
	}
}

func TestLimitsValidate(t *testing.T) {
	tests := []struct {
		name    string
		in      Limits
		wantErr bool
	}{
		{name: "defaults", in: Limits{}},
		{name: "small", in: Limits{MaxConns: 1, Enroll: Rate{Every: time.Millisecond, Burst: 1}}},
		{name: "zero burst", in: Limits{Enroll: Rate{Every: time.Second}}, wantErr: true},
		{name: "negative interval", in: Limits{AgentAuth: Rate{Every: -1, Burst: 5}}, wantErr: true},
		{name: "negative conns", in: Limits{MaxConns: -1}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.in.withDefaults().validate()
			if (err != nil) != tt.wantErr {
				t.Errorf("validate(%+v) = %v, want error %v", tt.in, err, tt.wantErr)
			}
		})
	}
}

func TestCheckPublicAddresses(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "wildcard public name", cfg: Config{Listen: "127.0.0.1:0", PublicNames: []string{"*.example.com"}}, wantErr: `--public-name: "*.example.com" is neither`},
		{name: "public name with a port", cfg: Config{Listen: "127.0.0.1:0", PublicNames: []string{"gw.example.com:51820"}}, wantErr: `--public-name: "gw.example.com:51820" is neither`},
		{name: "empty public name", cfg: Config{Listen: "127.0.0.1:0", PublicNames: []string{""}}, wantErr: "--public-name"},
		{name: "beyond loopback: gateways are registered, not configured", cfg: Config{Listen: ":8443"}},
		{name: "loopback", cfg: Config{Listen: "127.0.0.1:0"}},
		{name: "localhost", cfg: Config{Listen: "localhost:0", PublicNames: []string{"gatehouse.example.com", "192.0.2.10"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkPublicAddresses(tt.cfg)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("checkPublicAddresses(public names %q) = %v, want an error containing %q", tt.cfg.PublicNames, err, tt.wantErr)
			}
		})
	}
}

func TestCertificateCoversPublicNames(t *testing.T) {
	c := mustStart(t, t.TempDir(), Config{Listen: "127.0.0.1:0",
		PublicNames: []string{"gatehouse.example.test", "192.0.2.7", "gw.example.test"}})
	ca, err := os.ReadFile(c.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	for _, name := range []string{"gatehouse.example.test", "192.0.2.7", "gw.example.test", "localhost", "127.0.0.1"} {
		conn, err := tls.Dial("tcp", c.Addr().String(), &tls.Config{RootCAs: pool, ServerName: name})
		if err != nil {
			t.Errorf("TLS to the controller as %q = %v, want the certificate to cover it", name, err)
			continue
		}
		conn.Close()
	}
	conn, err := tls.Dial("tcp", c.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "other.example.test"})
	if verr := (*tls.CertificateVerificationError)(nil); !errors.As(err, &verr) {
		t.Errorf("TLS to the controller as other.example.test = %v, want a verification error", err)
	}
	if conn != nil {
		conn.Close()
	}
}

func TestCertNames(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		host string
		want []string
	}{
		{name: "loopback only", host: "127.0.0.1", want: []string{"localhost", "127.0.0.1", "::1"}},
		{name: "unspecified listen host is left out", host: "0.0.0.0", cfg: Config{PublicNames: []string{"10.0.0.1"}},
			want: []string{"localhost", "127.0.0.1", "::1", "10.0.0.1"}},
		{name: "public names once each", host: "", cfg: Config{PublicNames: []string{"ctrl.example.com.", "10.0.0.1", "ctrl.example.com"}},
			want: []string{"localhost", "127.0.0.1", "::1", "ctrl.example.com", "10.0.0.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := certNames(tt.cfg, tt.host); !slices.Equal(got, tt.want) {
				t.Errorf("certNames(%+v, %q) = %q, want %q", tt.cfg, tt.host, got, tt.want)
			}
		})
	}
}

func TestRevokeEnrollmentToken(t *testing.T) {
	c, admin, _ := startWith(t, Limits{})
	ctx := context.Background()
	cl := clientFrom("127.0.0.1")
	revoked, used := newToken(t, admin, "alice"), newToken(t, admin, "alice")
	if status, msg, _ := post(t, cl, c.URL()+api.PathEnroll, enrollBody(t, used.Token, "laptop")); status != http.StatusOK {
		t.Fatalf("enroll = %d %q, want 200", status, msg)
	}
	if err := admin.RevokeEnrollmentToken(ctx, revoked.ID); err != nil {
		t.Fatalf("RevokeEnrollmentToken(%s) = %v, want nil", revoked.ID, err)
	}
	status, msg, _ := post(t, cl, c.URL()+api.PathEnroll, enrollBody(t, revoked.Token, "laptop2"))
	if status != http.StatusForbidden || !strings.Contains(msg, "enrollment token unknown") {
		t.Errorf("enroll with a revoked token = %d %q, want 403 enrollment token unknown", status, msg)
	}
	wantStatus(t, "RevokeEnrollmentToken again", admin.RevokeEnrollmentToken(ctx, revoked.ID), http.StatusNotFound, revoked.ID)
	// Revoking a used token keeps the device it enrolled.
	if err := admin.RevokeEnrollmentToken(ctx, used.ID); err != nil {
		t.Fatalf("RevokeEnrollmentToken(used %s) = %v, want nil", used.ID, err)
	}
	toks, err := adminclient.List[api.EnrollmentToken](ctx, admin, api.PathEnrollmentTokens)
	if err != nil || len(toks) != 0 {
		t.Errorf("List(enrollment tokens) after revoking both = %+v, %v, want none", toks, err)
	}
	devs, err := adminclient.List[api.Device](ctx, admin, api.PathDevices)
	if err != nil || len(devs) != 1 || devs[0].Hostname != "laptop" {
		t.Errorf("List(devices) = %+v, %v, want the device the used token enrolled", devs, err)
	}
	unauth, err := adminclient.New(c.URL(), "gha_wrong", nil)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "RevokeEnrollmentToken without the admin token", unauth.RevokeEnrollmentToken(ctx, "et_x"), http.StatusUnauthorized)
}

// TestBootstrapToken: the bootstrap token may replace itself and create
// the first owner, once, and nothing else; once an owner exists it is
// refused everywhere (401, saying it is spent), across a restart, and no
// new one is made.
func TestBootstrapToken(t *testing.T) {
	dir := t.TempDir()
	c := mustStart(t, dir, Config{Listen: "127.0.0.1:0", InsecureHTTP: true})
	ctx := context.Background()
	old := c.BootstrapToken()
	boot, err := adminclient.New(c.URL(), old, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Before the bootstrap it may do nothing but bootstrap (and rotate).
	_, err = adminclient.List[api.User](ctx, boot, api.PathUsers)
	wantStatus(t, "List(users) with the bootstrap token", err, http.StatusForbidden, "may only create the first owner")
	err = adminclient.Create(ctx, boot, api.PathUsers, &api.User{Name: "eve"})
	wantStatus(t, "Create(user) with the bootstrap token", err, http.StatusForbidden, "may only create the first owner")
	_, err = boot.CreateAPIToken(ctx, api.APITokenRequest{Name: "x", Role: "owner", TTL: api.Duration(time.Hour)})
	wantStatus(t, "CreateAPIToken with the bootstrap token", err, http.StatusForbidden, "may only create the first owner")

	tok, err := boot.RotateAdminToken(ctx)
	if err != nil || !strings.HasPrefix(tok, "gha_") || tok == old {
		t.Fatalf("RotateAdminToken() = %q, %v, want a new gha_ token", tok, err)
	}
	_, err = boot.Bootstrap(ctx, api.BootstrapRequest{User: "root", Password: ownerPassword})
	wantStatus(t, "Bootstrap with the rotated-away token", err, http.StatusUnauthorized, "admin token")
	boot = boot.WithToken(tok)

	// Bad input changes nothing and leaves the token usable.
	_, err = boot.Bootstrap(ctx, api.BootstrapRequest{User: "root", Password: "short"})
	wantStatus(t, "Bootstrap with a short password", err, http.StatusBadRequest, "password")
	_, err = boot.Bootstrap(ctx, api.BootstrapRequest{User: "bad name", Password: ownerPassword})
	wantStatus(t, "Bootstrap with a bad name", err, http.StatusBadRequest, "user name")

	res, err := boot.Bootstrap(ctx, api.BootstrapRequest{User: "root", Password: ownerPassword, Email: "root@example.com"})
	if err != nil || res.User != "root" || !strings.HasPrefix(res.Token.Token, "ghk_") || res.Token.Role != "owner" {
		t.Fatalf("Bootstrap(root) = %+v, %v, want root with an owner ghk_ token", res, err)
	}
	owner := boot.WithToken(res.Token.Token)
	admins, err := adminclient.List[api.AdminAccount](ctx, owner, api.PathAdmins)
	if err != nil || len(admins) != 1 || admins[0] != (api.AdminAccount{User: "root", Role: "owner"}) {
		t.Errorf("List(admins) = %+v, %v, want root as owner", admins, err)
	}

	// Spent: a second bootstrap and everything else are refused.
	_, err = boot.Bootstrap(ctx, api.BootstrapRequest{User: "eve", Password: ownerPassword})
	wantStatus(t, "a second Bootstrap", err, http.StatusUnauthorized, "bootstrap token is spent")
	_, err = boot.RotateAdminToken(ctx)
	wantStatus(t, "RotateAdminToken after the bootstrap", err, http.StatusUnauthorized, "bootstrap token is spent")
	_, err = owner.Bootstrap(ctx, api.BootstrapRequest{User: "eve", Password: ownerPassword})
	wantStatus(t, "Bootstrap with the owner's token", err, http.StatusForbidden, "only the bootstrap token")
	if _, err := adminclient.Get[api.User](ctx, owner, api.PathUsers, "eve"); err == nil {
		t.Errorf("Get(eve) after refused bootstraps = nil error, want not found")
	}

	// After a restart: no new bootstrap token, the old one still spent.
	c.Close()
	c2 := mustStart(t, dir, Config{Listen: "127.0.0.1:0", InsecureHTTP: true})
	if c2.BootstrapToken() != "" {
		t.Errorf("BootstrapToken() after the bootstrap and a restart = %q, want empty", c2.BootstrapToken())
	}
	for tok, want := range map[string]int{tok: http.StatusUnauthorized, res.Token.Token: 0} {
		cl, err := adminclient.New(c2.URL(), tok, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = adminclient.List[api.User](ctx, cl, api.PathUsers)
		if status, _ := adminStatus(err); status != want {
			t.Errorf("List(users) after restart with token %.8s… = %v, want status %d", tok, err, want)
		}
	}
}

// TestGatewayDoorsAreLimited: the standalone gateway's two doors open to
// anyone share the limits of their device twins: enrollment takes at most
// 4 KiB and a burst per source, websocket upgrades a burst per source.
func TestGatewayDoorsAreLimited(t *testing.T) {
	c, _, _ := startWith(t, Limits{Enroll: Rate{Every: time.Hour, Burst: 2}, AgentAuth: Rate{Every: time.Hour, Burst: 2}})
	big := `{"token":"` + strings.Repeat("x", 1<<20) + `"}`
	if status, msg, _ := post(t, clientFrom("127.0.0.4"), c.URL()+api.GatewayEnrollPath, big); status != http.StatusRequestEntityTooLarge {
		t.Errorf("1 MiB gateway enrollment = %d %q, want 413", status, controller.Clip(msg))
	}
	guess := `{"token":"ghg_guess","public_key":"` + base64.StdEncoding.EncodeToString(make([]byte, ed25519.PublicKeySize)) + `"}`
	first := clientFrom("127.0.0.1")
	for i := range 2 {
		if status, msg, _ := post(t, first, c.URL()+api.GatewayEnrollPath, guess); status != http.StatusForbidden {
			t.Fatalf("gateway token guess %d = %d %q, want 403 within the burst", i+1, status, msg)
		}
	}
	if status, msg, _ := post(t, first, c.URL()+api.GatewayEnrollPath, guess); status != http.StatusTooManyRequests {
		t.Errorf("3rd gateway token guess from 127.0.0.1 = %d %q, want 429", status, msg)
	}
	upgrade := func(src string) int {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, resp, err := websocket.Dial(ctx, c.URL()+api.GatewayWebsocketPath, &websocket.DialOptions{HTTPClient: clientFrom(src)})
		if err != nil {
			if resp == nil {
				t.Fatalf("gateway websocket from %s: %v", src, err)
			}
			return resp.StatusCode
		}
		conn.CloseNow()
		return http.StatusSwitchingProtocols
	}
	for i := range 2 {
		if got := upgrade("127.0.0.3"); got != http.StatusSwitchingProtocols {
			t.Fatalf("gateway websocket %d from 127.0.0.3 = %d, want 101 within the burst", i+1, got)
		}
	}
	if got := upgrade("127.0.0.3"); got != http.StatusTooManyRequests {
		t.Errorf("3rd gateway websocket from 127.0.0.3 = %d, want 429", got)
	}
}
