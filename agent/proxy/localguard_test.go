package proxy

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var testRule = newHostRule("grafana", netip.MustParseAddrPort("127.0.0.1:17000"), 3000)

func TestHostRuleAllows(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"127.0.0.1:17000", true},
		{"localhost:17000", true},
		{"LocalHost.:17000", true},
		{"[::1]:17000", true},
		{"grafana", true},
		{"Grafana:17000", true},
		{"grafana:3000", true},
		{"grafana.:17000", true},
		{"127.0.0.1:17001", false}, // another local port
		{"127.0.0.1", false},
		{"localhost", false},
		{"grafana:9999", false},
		{"evil.example:17000", false},
		{"evil.example", false},
		{"127.0.0.2:17000", false},
		{"grafana.evil.example", false},
		{"", false},
		{":17000", false},
	}
	for _, tt := range tests {
		if got := testRule.allows(tt.in); got != tt.want {
			t.Errorf("allows(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestClassifyHead(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		want       headVerdict
		wantStatus int
	}{
		{"nothing yet", "", headUndecided, 0},
		{"method so far", "GE", headUndecided, 0},
		{"request line so far", "GET /index.html HT", headUndecided, 0},
		{"head not complete", "GET / HTTP/1.1\r\nHost: 127.0.0.1:17000\r\n", headUndecided, 0},
		{"local address", "GET / HTTP/1.1\r\nHost: 127.0.0.1:17000\r\n\r\n", headAllowed, 0},
		{"app name, bare LF", "POST /api HTTP/1.0\nHost: grafana\nContent-Length: 2\n\nhi", headAllowed, 0},
		{"body after head", "PUT /x HTTP/1.1\r\nHost: localhost:17000\r\n\r\n\r\n\r\nbody", headAllowed, 0},
		{"rebinding", "GET / HTTP/1.1\r\nHost: evil.example:17000\r\n\r\n", headRefused, 421},
		{"absolute form names another host", "GET http://evil.example/ HTTP/1.1\r\nHost: 127.0.0.1:17000\r\n\r\n", headRefused, 421},
		{"absolute form, own name", "GET http://grafana/ HTTP/1.1\r\nHost: grafana\r\n\r\n", headAllowed, 0},
		{"two Host headers", "GET / HTTP/1.1\r\nHost: 127.0.0.1:17000\r\nHost: evil.example\r\n\r\n", headRefused, 400},
		{"no Host", "GET / HTTP/1.0\r\n\r\n", headRefused, 400},
		{"malformed header", "GET / HTTP/1.1\r\nHost 127.0.0.1:17000\r\n\r\n", headRefused, 400},
		{"too large", "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", maxHead) + "\r\n", headRefused, 400},
		{"TLS", "\x16\x03\x01\x02\x00\x01", headNotHTTP, 0},
		{"redis inline", "PING\r\n", headNotHTTP, 0},
		{"redis-like command", "SET k v\r\n", headNotHTTP, 0},
		{"lowercase", "get foo\r\n", headNotHTTP, 0},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", headNotHTTP, 0},
		{"SSH banner", "SSH-2.0-OpenSSH_9.6\r\n", headNotHTTP, 0},
		{"leading space", " GET / HTTP/1.1\r\n", headNotHTTP, 0},
		{"long token", strings.Repeat("A", maxMethod+1), headNotHTTP, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classifyHead([]byte(tt.in), testRule)
			if got.verdict != tt.want || got.status != tt.wantStatus {
				t.Errorf("classifyHead(%.60q) = %v %d (%s), want %v %d", tt.in, got.verdict, got.status, got.why, tt.want, tt.wantStatus)
			}
		})
	}
}

// simReader is a client on a fake clock: what the pacer's unread, now
// and wait see. It reads chunk bytes every period (at most what is there,
// like a blocking read), or continuously at bps, or all at once.
type simReader struct {
	now      time.Time
	start    time.Time
	chunk    int
	period   time.Duration
	instant  bool    // reads everything at once
	bps      float64 // when set: reads continuously at this many bytes/s
	written  int
	read     int
	readTo   time.Time // reading done up to here
	looks    int
	waits    int
	maxAfter time.Duration
	maxSeen  int // most unread seen by a look after maxAfter
}

// advance lets the client read until d from now, and moves the clock.
func (s *simReader) advance(d time.Duration) {
	to := s.now.Add(d)
	if s.readTo.IsZero() {
		s.readTo = s.start
	}
	switch {
	case s.instant:
		s.read = s.written
	case s.bps > 0:
		s.read = min(s.written, s.read+int(to.Sub(s.readTo).Seconds()*s.bps))
	default:
		for ; !s.readTo.Add(s.period).After(to); s.readTo = s.readTo.Add(s.period) {
			s.read = min(s.written, s.read+s.chunk)
		}
	}
	if s.bps > 0 || s.instant {
		s.readTo = to
	}
	s.now = to
}

func (s *simReader) pacer() *pacer {
	return newPacer(func() (int, error) {
		s.looks++
		s.advance(0)
		u := s.written - s.read
		if s.now.Sub(s.start) > s.maxAfter {
			s.maxSeen = max(s.maxSeen, u)
		}
		return u, nil
	}, func() time.Time { return s.now }, func(d time.Duration) bool {
		s.waits++
		s.advance(d)
		return true
	})
}

// write pushes n bytes in chunks of 32 KiB (what io.Copy does) through p.
func (s *simReader) write(t *testing.T, p *pacer, n int) {
	for n > 0 {
		want := min(n, 32<<10)
		for want > 0 {
			k, err := p.grant(want)
			if err != nil || k <= 0 {
				t.Fatalf("grant(%d) = %d, %v", want, k, err)
			}
			s.written += k
			p.wrote(k)
			want -= k
			n -= k
		}
	}
}

func TestPacerKeepsASlowReadersBacklogSmall(t *testing.T) {
	start := time.Unix(1000, 0)
	s := &simReader{now: start, start: start, chunk: 1 << 10, period: 10 * time.Millisecond, maxAfter: time.Second}
	p := s.pacer()
	s.write(t, p, 512<<10) // ~5 s of reading
	t.Logf("max backlog %d, looks %d, waits %d, took %s, budget %d", s.maxSeen, s.looks, s.waits, s.now.Sub(start), p.budget)
	// What an abort would still leave the reader: at 100 KiB/s, 8 KiB is 80 ms.
	if s.maxSeen > 8<<10 {
		t.Errorf("slow reader's backlog after 1 s = up to %d bytes, want <= %d", s.maxSeen, 8<<10)
	}
	if took := s.now.Sub(start); took > 6*time.Second {
		t.Errorf("512 KiB to a 100 KiB/s reader took %s, want about 5 s (pacing must not slow it down)", took)
	}
}

func TestPacerLetsAFastReaderThrough(t *testing.T) {
	start := time.Unix(1000, 0)
	s := &simReader{now: start, start: start, instant: true}
	p := s.pacer()
	s.write(t, p, 64<<20)
	if s.waits != 0 || s.looks > 40 {
		t.Errorf("64 MiB to a reader that keeps up: %d waits, %d looks; want 0 waits and <= 40 looks", s.waits, s.looks)
	}
	if p.budget != paceMaxBudget {
		t.Errorf("budget after 64 MiB read at once = %d, want %d", p.budget, paceMaxBudget)
	}
}

// TestPacerKeepsUpWithAFastReader: a reader at 200 MB/s is fed at nearly
// its speed; the pacer's own limit must not pass for the reader's speed.
func TestPacerKeepsUpWithAFastReader(t *testing.T) {
	start := time.Unix(1000, 0)
	s := &simReader{now: start, start: start, bps: 200e6}
	p := s.pacer()
	const total = 200 << 20
	s.write(t, p, total)
	ideal := time.Duration(float64(total) / s.bps * float64(time.Second))
	took := s.now.Sub(start)
	t.Logf("200 MiB at 200 MB/s: %s (ideal %s), %d looks, %d waits, budget %d", took, ideal, s.looks, s.waits, p.budget)
	if took > ideal*11/10 {
		t.Errorf("200 MiB to a 200 MB/s reader took %s, want within 10%% of %s", took, ideal)
	}
}

// TestPacerCatchesABurstAfterATrickle: an app that trickled (the client
// kept up) and then bursts to a slow client does not fill its queue.
func TestPacerCatchesABurstAfterATrickle(t *testing.T) {
	start := time.Unix(1000, 0)
	s := &simReader{now: start, start: start, chunk: 1 << 10, period: 10 * time.Millisecond}
	p := s.pacer()
	for range 100 { // 100 bytes every 10 ms for a second
		s.write(t, p, 100)
		s.advance(10 * time.Millisecond)
	}
	s.maxAfter = s.now.Sub(start)
	s.write(t, p, 256<<10)
	t.Logf("backlog during the burst: up to %d bytes, budget %d", s.maxSeen, p.budget)
	if s.maxSeen > paceInitBudget {
		t.Errorf("slow client's backlog in a burst after a trickle = up to %d bytes, want <= %d", s.maxSeen, paceInitBudget)
	}
}

func TestPacerWithoutUnreadWritesThrough(t *testing.T) {
	p := newPacer(func() (int, error) { return 0, errors.New("not supported") }, time.Now,
		func(time.Duration) bool { t.Fatal("waited without knowing the backlog"); return false })
	for i := range 100 {
		n, err := p.grant(32 << 10)
		if err != nil || n <= 0 || (i > 0 && n != 32<<10) {
			t.Fatalf("grant %d of 32 KiB = %d, %v, want all of it once the backlog is known to be unknown", i, n, err)
		}
		p.wrote(n)
	}
}

func TestPacerStopsWaitingWhenClosed(t *testing.T) {
	p := newPacer(func() (int, error) { return 1 << 20, nil }, time.Now, func(time.Duration) bool { return false })
	p.wrote(paceInitBudget)
	if n, err := p.grant(1); n != 0 || !errors.Is(err, net.ErrClosed) {
		t.Errorf("grant on a closed connection = %d, %v, want 0, %v", n, err, net.ErrClosed)
	}
}

// localPair returns a localConn (the agent's end, with testRule) and the
// client's end of a loopback connection.
func localPair(t *testing.T) (*localConn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	lc := newLocalConn(c.(*net.TCPConn), testRule, func() (int, error) { return 0, errors.New("none") })
	t.Cleanup(func() { lc.Close(); client.Close() })
	return lc, client
}

// TestLateRequestIsCheckedBeforeItPasses: a client that sends nothing for
// longer than headWait still has its head checked on the way to the app.
func TestLateRequestIsCheckedBeforeItPasses(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		wantPass bool
	}{
		{"another protocol passes untouched", "SET k v\r\n", true},
		{"an HTTP request for this port passes", "GET / HTTP/1.1\r\nHost: 127.0.0.1:17000\r\n\r\n", true},
		{"an HTTP request for another host is answered 421", "GET / HTTP/1.1\r\nHost: evil.example:17000\r\n\r\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lc, client := localPair(t)
			if hc := lc.readHead(time.Now().Add(20 * time.Millisecond)); hc.verdict != headUndecided {
				t.Fatalf("readHead with no bytes = %v, want undecided", hc.verdict)
			}
			refused := 0
			lc.onRefused = func(headCheck) { refused++ }
			go client.Write([]byte(tt.in))
			got, err := io.ReadAll(io.LimitReader(lc, int64(len(tt.in))))
			if tt.wantPass {
				if err != nil || string(got) != tt.in {
					t.Errorf("Read = %q, %v, want %q", got, err, tt.in)
				}
				return
			}
			if !errors.Is(err, errRequestRefused) || len(got) != 0 || refused != 1 {
				t.Errorf("Read = %q, %v (refusals %d), want nothing, %v, one refusal", got, err, refused, errRequestRefused)
			}
			client.SetReadDeadline(time.Now().Add(5 * time.Second))
			answer := make([]byte, 12)
			io.ReadFull(client, answer)
			if !strings.HasPrefix(string(answer), "HTTP/1.1 421") {
				t.Errorf("client got %q, want a 421 answer", answer)
			}
		})
	}
}
