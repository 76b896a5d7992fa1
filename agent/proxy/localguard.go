package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The local side of a proxy port: who may call it (the device's user, see
// localpeer), which HTTP Host a request may name (DNS rebinding), and how
// far the agent may write ahead of a slow reader (so an abort ends the
// flow for it at once).

const (
	// headWait is how long a new connection waits for its first client
	// bytes before the tunnel is asked for. HTTP clients send at once, so
	// a request naming another host is refused before any grant request;
	// a server-speaks-first protocol (SMTP, MySQL) pays this once per
	// connection.
	headWait = 50 * time.Millisecond
	// headTimeout bounds how long an HTTP request head may take to arrive
	// once it has begun.
	headTimeout = 10 * time.Second
	// maxHead is the largest HTTP request head checked; larger is refused.
	maxHead = 64 << 10
	// maxMethod is the longest first token still taken for an HTTP method.
	maxMethod = 20
)

// hostRule says which Host a request on one local port may name: the
// port's own loopback address (127.0.0.1, localhost or [::1] with the
// port), or the app's name with or without a port. Anything else is a
// page from another site that a DNS rebinding attack pointed at this port.
type hostRule struct {
	app       string
	local     netip.AddrPort // the listener's address
	appPort   uint16         // the app's own port this listener serves
	localAddr string         // how to reach it, for messages
}

func newHostRule(app string, local netip.AddrPort, appPort uint16) hostRule {
	return hostRule{app: app, local: local, appPort: appPort, localAddr: local.String()}
}

// allows reports whether host (a Host header or an absolute URL's host)
// names this port.
func (r hostRule) allows(host string) bool {
	name, port, err := net.SplitHostPort(host)
	if err != nil {
		name, port = host, "" // no port
	}
	name = strings.ToLower(strings.TrimSuffix(strings.Trim(name, "[]"), "."))
	if name == "" {
		return false
	}
	local := strconv.Itoa(int(r.local.Port()))
	if strings.EqualFold(name, r.app) {
		return port == "" || port == local || port == strconv.Itoa(int(r.appPort))
	}
	if port != local {
		return false
	}
	if name == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(name)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	return ip == netip.AddrFrom4([4]byte{127, 0, 0, 1}) || ip == netip.IPv6Loopback() || ip == r.local.Addr().Unmap()
}

// headVerdict is what the first client bytes say.
type headVerdict int

const (
	headUndecided headVerdict = iota // not enough bytes yet
	headNotHTTP                      // another protocol: passed on untouched
	headAllowed                      // an HTTP/1.x request for this port
	headRefused                      // an HTTP/1.x request that must not pass
)

// headCheck is a verdict, and for a refusal the HTTP status and why.
type headCheck struct {
	verdict headVerdict
	status  int
	why     string
}

// classifyHead looks at the bytes a client sent first. It decides as soon
// as it can: a first token that is not an HTTP method, or a request line
// that does not end in HTTP/1.x, is another protocol; an HTTP/1.x request
// is judged once its head is complete.
func classifyHead(head []byte, r hostRule) headCheck {
	undecided := headCheck{verdict: headUndecided}
	if len(head) == 0 {
		return undecided
	}
	method, _, spaced := bytes.Cut(head, []byte(" "))
	if len(method) > maxMethod || (spaced && len(method) == 0) {
		return headCheck{verdict: headNotHTTP}
	}
	for _, b := range method {
		if (b < 'A' || b > 'Z') && b != '-' && b != '_' {
			return headCheck{verdict: headNotHTTP}
		}
	}
	if !spaced {
		return undecided
	}
	line, _, ok := bytes.Cut(head, []byte("\n"))
	if !ok {
		if len(head) >= maxHead {
			return headCheck{headRefused, 400, "the request line is longer than 64 KiB"}
		}
		return undecided
	}
	line = bytes.TrimSuffix(line, []byte("\r"))
	if !bytes.HasSuffix(line, []byte(" HTTP/1.1")) && !bytes.HasSuffix(line, []byte(" HTTP/1.0")) {
		return headCheck{verdict: headNotHTTP}
	}
	end := headEnd(head)
	if end < 0 {
		if len(head) >= maxHead {
			return headCheck{headRefused, 400, "the request head is larger than 64 KiB"}
		}
		return undecided
	}
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(head[:end])))
	tp.ReadLine() // the request line, checked above
	hdr, err := tp.ReadMIMEHeader()
	if err != nil {
		return headCheck{headRefused, 400, fmt.Sprintf("malformed HTTP request head: %v", err)}
	}
	hosts := hdr.Values("Host")
	if len(hosts) > 1 {
		return headCheck{headRefused, 400, "the request has more than one Host header"}
	}
	target := strings.Fields(string(line))[1]
	if !strings.HasPrefix(target, "/") && target != "*" {
		// Absolute form: the URL names the host too.
		u, err := url.Parse(target)
		if err != nil || u.Host == "" {
			return headCheck{headRefused, 400, fmt.Sprintf("malformed request target %.100q", target)}
		}
		hosts = append(hosts, u.Host)
	}
	if len(hosts) == 0 {
		return headCheck{headRefused, 400, "the request has no Host header"}
	}
	for _, h := range hosts {
		if !r.allows(h) {
			return headCheck{headRefused, 421, fmt.Sprintf("the request is for host %.100q, not this app", h)}
		}
	}
	return headCheck{verdict: headAllowed}
}

// headEnd is the length of the request head (through its empty line), or
// -1 when it is not complete yet.
func headEnd(b []byte) int {
	crlf, lf := bytes.Index(b, []byte("\r\n\r\n")), bytes.Index(b, []byte("\n\n"))
	switch {
	case crlf >= 0 && (lf < 0 || crlf+2 <= lf):
		return crlf + 4
	case lf >= 0:
		return lf + 2
	}
	return -1
}

// refusalResponse is the HTTP answer to a refused request head.
func refusalResponse(c headCheck, r hostRule) []byte {
	body := fmt.Sprintf("gatehouse: request refused: %s.\n"+
		"This local port serves the app %q only as http://%s/ (or http://%s:%d/ if %s points here).\n"+
		"A request naming another site is how a web page reaches local ports through DNS rebinding.\n",
		c.why, r.app, r.localAddr, r.app, r.local.Port(), r.app)
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
		c.status, statusText(c.status), len(body), body)
}

func statusText(code int) string {
	if code == 421 {
		return "Misdirected Request"
	}
	return "Bad Request"
}

// errRequestRefused ends a connection whose request head was refused.
var errRequestRefused = errors.New("request refused by the local host check")

// localConn is the agent's end of one connection on a local proxy port,
// as Splice sees it: reads hand on the client's bytes only once their head
// has passed the host check, and writes are paced to the client's reading
// (see pacer). Abort and Close wake a paced write at once.
//
// Only one goroutine reads and only one writes at a time (Splice's two
// copies; before the tunnel, the proxy goroutine alone).
type localConn struct {
	net.Conn // the *net.TCPConn; embedded as an interface so io.Copy cannot bypass Read and Write
	tcp      *net.TCPConn
	rule     hostRule

	closeOnce sync.Once
	closed    chan struct{}

	// Read side.
	head      []byte // client bytes read for the check and not yet handed on
	started   time.Time
	decided   bool
	readErr   error           // what ended the read of the head, after head is handed on
	onRefused func(headCheck) // counts and logs a refusal that happens inside Read

	// Write side.
	pace *pacer
}

func newLocalConn(c *net.TCPConn, rule hostRule, unread func() (int, error)) *localConn {
	lc := &localConn{Conn: c, tcp: c, rule: rule, closed: make(chan struct{})}
	lc.pace = newPacer(unread, time.Now, lc.sleep)
	return lc
}

// readHead reads until classifyHead decides, waiting for the first byte
// until firstBy (zero: as long as it takes) and for the rest of an HTTP
// head until headTimeout after the first byte. Undecided is returned only
// when no byte came by firstBy.
func (c *localConn) readHead(firstBy time.Time) headCheck {
	buf := make([]byte, 4096)
	for {
		hc := classifyHead(c.head, c.rule)
		if hc.verdict != headUndecided {
			c.decided = true
			return hc
		}
		if c.readErr != nil {
			c.decided = true
			if len(c.head) == 0 {
				return headCheck{verdict: headNotHTTP} // nothing sent: the tunnel sees the same end
			}
			return headCheck{headRefused, 400, "the request head ended before it was complete"}
		}
		deadline := firstBy
		if len(c.head) > 0 {
			deadline = c.started.Add(headTimeout)
		}
		c.tcp.SetReadDeadline(deadline)
		n, err := c.tcp.Read(buf)
		if n > 0 && len(c.head) == 0 {
			c.started = time.Now()
		}
		c.head = append(c.head, buf[:n]...)
		var ne net.Error
		switch {
		case err == nil:
		case errors.As(err, &ne) && ne.Timeout() && len(c.head) == 0:
			c.tcp.SetReadDeadline(time.Time{})
			return headCheck{verdict: headUndecided}
		case errors.As(err, &ne) && ne.Timeout():
			c.decided = true
			return headCheck{headRefused, 400, fmt.Sprintf("the request head did not arrive within %s", headTimeout)}
		default:
			c.readErr = err
		}
		c.tcp.SetReadDeadline(time.Time{})
	}
}

// Read hands on the checked head first, then reads straight through.
// A connection whose first bytes came only after the tunnel was up is
// checked here, before any of them reach the app.
func (c *localConn) Read(b []byte) (int, error) {
	if !c.decided {
		if hc := c.readHead(time.Time{}); hc.verdict == headRefused {
			// Counted before the answer goes out, so a client that has
			// its 421 finds the refusal in the agent's status.
			if c.onRefused != nil {
				c.onRefused(hc)
			}
			c.refuse(hc)
			return 0, errRequestRefused
		}
	}
	if len(c.head) > 0 {
		n := copy(b, c.head)
		c.head = c.head[n:]
		return n, nil
	}
	if c.readErr != nil {
		return 0, c.readErr
	}
	return c.tcp.Read(b)
}

// refuse answers a refused request head; the caller then closes.
func (c *localConn) refuse(hc headCheck) {
	c.tcp.SetWriteDeadline(time.Now().Add(time.Second))
	c.tcp.Write(refusalResponse(hc, c.rule))
}

// closeAfterRefusal closes gracefully so the answer is read: what the
// client still sends is drained briefly first, because closing with
// unread data would reset the connection and lose the answer.
func (c *localConn) closeAfterRefusal() {
	c.tcp.CloseWrite()
	c.tcp.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 4096)
	for drained := 0; drained < maxHead; {
		n, err := c.tcp.Read(buf)
		drained += n
		if err != nil {
			break
		}
	}
	c.Close()
}

// Write writes b, no faster than the pacer allows.
func (c *localConn) Write(b []byte) (int, error) {
	written := 0
	for len(b) > 0 {
		n, err := c.pace.grant(len(b))
		if err != nil {
			return written, err
		}
		m, err := c.tcp.Write(b[:n])
		written += m
		c.pace.wrote(m)
		if err != nil {
			return written, err
		}
		b = b[m:]
	}
	return written, nil
}

// CloseWrite passes a half-close on (Splice uses it for a normal end).
func (c *localConn) CloseWrite() error { return c.tcp.CloseWrite() }

// SetLinger lets tunnel.Abort reset the connection.
func (c *localConn) SetLinger(sec int) error { return c.tcp.SetLinger(sec) }

func (c *localConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.tcp.Close()
}

// sleep waits d; false if the connection closed meanwhile.
func (c *localConn) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.closed:
		return false
	}
}

const (
	// paceLag is how much of the client's reading the agent may write
	// ahead of it. Linux hands a reader what is already in its socket's
	// receive queue before it reports a reset, so this is about how long
	// an aborted flow can still deliver data to a slow reader.
	paceLag        = 20 * time.Millisecond
	paceMinBudget  = 4 << 10
	paceInitBudget = 16 << 10
	paceMaxBudget  = 4 << 20
	// paceWindow is the shortest interval a reading-rate sample covers.
	paceWindow = 10 * time.Millisecond
	// paceLookEvery bounds how stale the view of the client may get while
	// writing within the budget, so a budget grown while the app was the
	// bottleneck is corrected when the client turns out to be.
	paceLookEvery = 50 * time.Millisecond
	paceMinWait   = time.Millisecond
	paceMaxWait   = 20 * time.Millisecond
)

// pacer keeps the bytes a local client has been sent but not read yet (in
// its receive queue and in ours) within a budget of about paceLag of its
// reading, so that aborting the connection leaves it little to read.
//
// A client that eats at least half its budget between two looks and has
// little left doubles it, as TCP's slow start does; one that stays behind
// gets its measured reading rate × paceLag (measured only while it has a
// backlog, so the pacer's own limit does not pass for the client's speed).
// A look is one sock_diag query: a fast reader is looked at about once per
// budget or paceLookEvery, a slow one every few milliseconds while it is
// behind.
type pacer struct {
	unread func() (int, error) // bytes sent and not yet read by the client
	now    func() time.Time
	wait   func(time.Duration) bool // false when the connection closed

	off      bool // unread is not available: no pacing
	budget   int  // unread bytes allowed
	queued   int  // unread at the last look plus what was written since
	lastLook time.Time
	behind   bool    // the client had a backlog at the last look
	rate     float64 // bytes/s the client reads while behind; 0: not known
	winStart time.Time
	winRead  int
	stalls   int // waits in a row in which the client read nothing
}

func newPacer(unread func() (int, error), now func() time.Time, wait func(time.Duration) bool) *pacer {
	return &pacer{unread: unread, now: now, wait: wait, budget: paceInitBudget}
}

// grant returns how many of n bytes may be written now (at least one),
// waiting while the client's backlog fills its budget.
func (p *pacer) grant(n int) (int, error) {
	for {
		if p.off {
			return n, nil
		}
		if room := p.budget - p.queued; room > 0 && p.now().Sub(p.lastLook) < paceLookEvery {
			return min(n, room), nil
		}
		if err := p.look(); err != nil {
			p.off = true // the client is gone or cannot be seen: the write decides
			return n, nil
		}
		if room := p.budget - p.queued; room > 0 {
			return min(n, room), nil
		}
		if !p.wait(p.waitFor()) {
			return 0, net.ErrClosed
		}
	}
}

// wrote records k bytes written.
func (p *pacer) wrote(k int) { p.queued += k }

// look asks how much the client has not read yet and adjusts the budget.
func (p *pacer) look() error {
	u, err := p.unread()
	if err != nil {
		return err
	}
	now := p.now()
	read := max(0, p.queued-u)
	if read > 0 {
		p.stalls = 0
	} else {
		p.stalls++
	}
	// Sample the reading rate only over stretches the client was behind
	// throughout: otherwise it read what it got, not what it could.
	if p.behind && u > 0 {
		if p.winStart.IsZero() {
			p.winStart = p.lastLook
		}
		p.winRead += read
		if el := now.Sub(p.winStart); el >= paceWindow {
			sample := float64(p.winRead) / el.Seconds()
			if p.rate == 0 {
				p.rate = sample
			} else {
				p.rate = 0.7*p.rate + 0.3*sample
			}
			p.winStart, p.winRead = now, 0
		}
	} else {
		p.winStart, p.winRead = time.Time{}, 0
	}
	switch {
	case read >= p.budget/2 && u < p.budget/4:
		// It ate at least half a budget and wants more: offer more.
		p.budget = min(2*p.budget, paceMaxBudget)
	case u >= p.budget/2 && p.rate > 0:
		p.budget = max(paceMinBudget, min(paceMaxBudget, int(p.rate*paceLag.Seconds())))
	}
	p.queued, p.behind, p.lastLook = u, u > 0, now
	return nil
}

// waitFor is how long until about half the budget should be free; while
// the reading rate is unknown, or the client reads nothing, it backs off
// from paceMinWait.
func (p *pacer) waitFor() time.Duration {
	d := paceMinWait << min(p.stalls, 8)
	if p.rate > 0 {
		need := float64(p.queued - p.budget/2)
		d = max(d, time.Duration(need/p.rate*float64(time.Second)))
	}
	return max(paceMinWait, min(paceMaxWait, d))
}
