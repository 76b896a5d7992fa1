package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/conn"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/tunnel"
)

// TestStandaloneUncooperativeClientCutAtItsSite: the seven namespaces of
// NewSites, every part a real process but the client, which is a RawPeer
// living in the client namespace (its websocket and its WireGuard sockets
// are there). It holds a grant for app0 behind site0 and one for app1
// behind site1, streams through both, and ignores every revoke. A posture
// change that fails app0's policy (and not app1's) must be enforced by
// site0's gatehouse-gateway alone within a second, while the stream
// through site1 keeps flowing; app0's grant never reaches site1.
func TestStandaloneUncooperativeClientCutAtItsSite(t *testing.T) {
	x := newStandalone(t)
	// Two policies, so that one posture change fails app0's and not
	// app1's: app0 needs disk encryption and the firewall, app1 the
	// firewall alone.
	x.admin("policies", "delete", "eng-apps")
	x.admin("profiles", "create", "firewalled", "--firewall")
	x.admin("policies", "create", "eng-app0", "--groups", "eng", "--apps", "app0", "--profiles", "secure")
	x.admin("policies", "create", "eng-app1", "--groups", "eng", "--apps", "app1", "--profiles", "firewalled")

	p := newRawPeer(t, x.rawHome(), "alice")
	var g [2]*RawGrant
	var s [2]*RawStream
	for i := range 2 {
		g[i] = p.Grant(fmt.Sprintf("app%d", i))
		if want := x.s.Addr[x.s.Site[i]] + ":51820"; g[i].GatewayEndpoint != want {
			t.Fatalf("grant for app%d names gateway %s, want site%d's %s", i, g[i].GatewayEndpoint, i, want)
		}
	}
	if g[0].GatewayPublicKey == g[1].GatewayPublicKey {
		t.Fatalf("both grants name gateway key %s, want each site's own", g[0].GatewayPublicKey)
	}
	for i := range 2 {
		s[i] = g[i].OpenStream(g[i].Port())
		x.awaitPeers(i, "1", 2*time.Second)
	}

	// app0's grant never reaches site1 (nor app1's site0), by each
	// gateway's own account, and site1's WireGuard does not know app0's
	// key: a handshake under it gets no answer.
	for i := range 2 {
		for j := range 2 {
			if got, want := x.gatewayHolds(i, g[j]), i == j; got != want {
				t.Errorf("site%d holds the peer of app%d's grant = %v, want %v (site%d's log:\n%s)", i, j, got, want, i, x.gw[i].stderr)
			}
		}
	}
	g[0].assertUnknownAt(g[1].endpoint, g[1].gatewayKey)

	// The posture change fails app0's policy only.
	for i := range 2 {
		flowing(t, s[i], fmt.Sprintf("stream through site%d", i))
	}
	failing := passingPostureReport()
	failing.DiskEncryption = api.KnownBool(false)
	flip := time.Now()
	p.SendPosture(failing)
	g[0].AssertGatewayCut(s[0], time.Second)
	s[0].mu.Lock()
	cut := s[0].endedAt.Sub(flip)
	s[0].mu.Unlock()
	t.Logf("site0's gatehouse-gateway reset the uncooperative client's stream %s after the posture change", cut.Round(time.Millisecond))
	if cut > time.Second {
		t.Errorf("stream through site0 cut %s after the posture change, want ≤ 1 s", cut)
	}
	x.awaitPeers(0, "0", 2*time.Second)

	// The client was told, and did nothing: the revoke names app0's key
	// and no other, and its tunnel to site0 is still up (the silent dial
	// in AssertGatewayCut went through it).
	Eventually(t, time.Second, func() error {
		if !p.Revoked() {
			return errors.New("RawPeer.Revoked() = false, want the revoke of app0 received (and ignored)")
		}
		return nil
	})
	for _, m := range p.Messages(api.TypeRevoke) {
		var r api.Revocation
		Must(t, m.Decode(&r))
		if r.PublicKey != g[0].PublicKey {
			t.Errorf("revoke %+v, want only app0's grant (key %s) revoked", r, g[0].PublicKey)
		}
	}

	// site1 is untouched: its stream goes on, a new request is served,
	// and it still holds app1's peer.
	flowing(t, s[1], "stream through site1 after site0's cut")
	select {
	case <-s[1].ended:
		t.Fatal("stream through site1 ended after the posture change, want it untouched")
	default:
	}
	if got, err := g[1].get("/"); err != nil || got != "hello from app1" {
		t.Errorf("GET app1 through site1 after the posture change = %q, %v, want %q", got, err, "hello from app1")
	}
	if !x.gatewayHolds(1, g[1]) {
		t.Errorf("site1 no longer holds app1's peer after a change to app0's policy (log:\n%s)", x.gw[1].stderr)
	}
	x.awaitPeers(1, "1", time.Second)
}

// rawHome is the standalone install as a RawPeer sees it from the client
// namespace. The websocket and enrollment go through sockets dialed
// there, and each tunnel's UDP sockets are opened there by netnsBind. (A
// goroutine switched into the namespace around tunnel.NewClient would not
// do: the netstack's up event may bring the device up first from another
// thread, in the host namespace. Running the peer as its own process
// would: but the test drives and watches its streams, so it stays here.)
func (x *standalone) rawHome() *rawHome {
	return &rawHome{
		controllerAt: controllerAt{url: x.url, client: controllerHTTPClient(x.t, x.ca, dialerIn(x.s.Client))},
		token: func(user string) (string, error) {
			return strings.Fields(x.admin("tokens", "create", "--user", user))[0], nil
		},
		bind: func() conn.Bind { return netnsBind{Bind: conn.NewDefaultBind(), ns: x.s.Client} },
		held: func(g *RawGrant) []string {
			var out []string
			for i := range 2 {
				if x.gatewayHolds(i, g) {
					out = append(out, fmt.Sprintf("site%d", i))
				}
			}
			return out
		},
	}
}

// gatewayHolds reports whether site i holds g's peer by its own account:
// the last of its log lines about g's app at g's overlay address says
// "peer added" (not "peer removed" or "peer lease expired").
func (x *standalone) gatewayHolds(i int, g *RawGrant) bool {
	held := false
	for l := range strings.Lines(x.gw[i].stderr.String()) {
		f := strings.Fields(l)
		if !hasField(f, "app="+g.Grant.App) || !hasField(f, "overlay="+g.OverlayAddr) {
			continue
		}
		switch {
		case strings.Contains(l, `msg="peer added"`):
			held = true
		case strings.Contains(l, `msg="peer removed"`), strings.Contains(l, `msg="peer lease expired"`):
			held = false
		}
	}
	return held
}

func hasField(fields []string, f string) bool {
	for _, x := range fields {
		if x == f {
			return true
		}
	}
	return false
}

// netnsBind is a WireGuard UDP transport whose sockets live in network
// namespace ns, whichever thread opens (or reopens) them.
type netnsBind struct {
	conn.Bind
	ns string
}

func (b netnsBind) Open(port uint16) (fns []conn.ReceiveFunc, actual uint16, err error) {
	err = inNetns(b.ns, func() (err error) {
		fns, actual, err = b.Bind.Open(port)
		return err
	})
	return fns, actual, err
}

// flowing waits until s has delivered more bytes than it had.
func flowing(t testing.TB, s *RawStream, what string) {
	t.Helper()
	before := s.Received()
	Eventually(t, 2*time.Second, func() error {
		if s.Received() < before+50 {
			return fmt.Errorf("%s delivered %d bytes more, want it flowing", what, s.Received()-before)
		}
		return nil
	})
}

// get does an HTTP GET of path on the app through the grant's tunnel.
func (g *RawGrant) get(path string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := g.Dial(ctx, g.Port())
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n", path)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// assertUnknownAt checks that the gateway at endpoint (WireGuard key
// key) does not hold g's peer: a handshake under g's key from a tunnel of
// its own gets no answer at all (a refusal would mean a peer answered).
func (g *RawGrant) assertUnknownAt(endpoint netip.AddrPort, key tunnel.PublicKey) {
	g.t.Helper()
	c, err := g.tunnelTo(endpoint, key)
	Must(g.t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conn, err := c.DialContext(ctx, g.App(g.Port()))
	if err == nil {
		conn.Close()
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		g.t.Errorf("dial under app %s's key through the gateway at %s = %v, want no answer: that gateway holds the peer", g.Grant.App, endpoint, err)
	}
}
