package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// standalone is one install across NewSites' namespaces, all real
// processes: the controller, a standalone gatehouse-gateway in each site,
// an agent on the client, an app host behind each site.
type standalone struct {
	t        testing.TB
	s        *Sites
	bin, dir string
	url, ca  string
	adminEnv []string
	ctrl     *proc
	ctrlArgs []string
	gw       [2]*proc
	gwState  [2]string
	agentDir string
	override string
	agent    *proc
}

const standaloneLease = 3 * time.Second

// standaloneOptions change what newStandaloneWith sets up.
type standaloneOptions struct {
	// ctrlArgs and agentArgs are more flags for the controller and for
	// `gatehouse-agent run`.
	ctrlArgs, agentArgs []string
	// apps serves the apps on the app hosts and makes them, and the
	// policy reaching them, for group eng under profile secure; nil: a
	// hello server on each app host, app0 through site0 and app1 through
	// site1.
	apps func(x *standalone)
}

func newStandalone(t testing.TB) *standalone {
	t.Helper()
	return newStandaloneWith(t, standaloneOptions{})
}

func newStandaloneWith(t testing.TB, opts standaloneOptions) *standalone {
	t.Helper()
	if opts.apps == nil {
		opts.apps = helloApps
	}
	s := NewSites(t)
	x := &standalone{t: t, s: s, bin: binaries(t), dir: t.TempDir()}
	ctlAddr := s.Addr[s.Controller]
	data := filepath.Join(x.dir, "controller")
	x.ctrlArgs = netnsExec(s.Controller, filepath.Join(x.bin, "gatehouse-controller"), "--data-dir", data, "--listen", ":8443",
		"--public-name", ctlAddr, "--gateway-host", ctlAddr, "--lease-ttl", standaloneLease.String(),
		"--trust-posture-overrides")
	x.ctrlArgs = append(x.ctrlArgs, opts.ctrlArgs...)
	x.ctrl = startProc(t, nil, x.ctrlArgs...)
	x.ctrl.awaitLine(t, "admin token written to ", 30*time.Second)
	x.url = "https://" + ctlAddr + ":8443"
	x.ca = filepath.Join(x.dir, "ca.pem")
	copyFile(t, filepath.Join(data, "ca.pem"), x.ca)
	tokenFile := filepath.Join(x.dir, "admin-token")
	copyFile(t, filepath.Join(data, "admin-token"), tokenFile)
	x.adminEnv = []string{"GATEHOUSE_CONTROLLER=" + x.url, "GATEHOUSE_CA=" + x.ca, "GATEHOUSE_ADMIN_TOKEN_FILE=" + tokenFile}
	// The bootstrap token makes the first owner; its API token takes the
	// bootstrap token's place in the file.
	x.admin("bootstrap", "--user", OwnerName, "--password-file", passwordFile(t, x.dir))

	x.admin("users", "create", "alice", "--groups", "eng")
	x.admin("profiles", "create", "secure", "--disk-encryption", "--firewall")
	opts.apps(x)

	for i := range 2 {
		tok := strings.Fields(x.admin("gateways", "create", fmt.Sprintf("site%d", i)))[0]
		tokFile := filepath.Join(x.dir, fmt.Sprintf("gw%d-token", i))
		Must(t, os.WriteFile(tokFile, []byte(tok), 0o600))
		x.gwState[i] = filepath.Join(x.dir, fmt.Sprintf("gw%d", i))
		runCmd(t, nil, false, netnsExec(s.Site[i], filepath.Join(x.bin, "gatehouse-gateway"), "--state-dir", x.gwState[i], "enroll",
			"--controller", x.url, "--token-file", tokFile, "--ca", x.ca)...)
		x.startGateway(i)
	}
	for i := range 2 {
		x.awaitGateway(i, "online", 10*time.Second)
	}

	x.agentDir = filepath.Join(x.dir, "agent")
	x.override = filepath.Join(x.dir, "posture.json")
	Must(t, os.WriteFile(x.override, []byte(GoodPosture), 0o600))
	tok := strings.Fields(x.admin("tokens", "create", "--user", "alice"))[0]
	tokFile := filepath.Join(x.dir, "enroll-token")
	Must(t, os.WriteFile(tokFile, []byte(tok), 0o600))
	runCmd(t, nil, false, netnsExec(s.Client, filepath.Join(x.bin, "gatehouse-agent"), "--state-dir", x.agentDir, "enroll",
		"--controller", x.url, "--token-file", tokFile, "--ca", x.ca)...)
	x.agent = startProc(t, nil, netnsExec(s.Client, append([]string{filepath.Join(x.bin, "gatehouse-agent"), "--state-dir", x.agentDir, "run",
		"--posture-override", x.override, "--port-base", "0"}, opts.agentArgs...)...)...)
	return x
}

// helloApps serves a hello server on each app host: app0 through site0,
// app1 through site1, both for group eng.
func helloApps(x *standalone) {
	s := x.s
	for i := range 2 {
		serveApp(x.t, s.App[i], net.JoinHostPort(s.Addr[s.App[i]], "80"), fmt.Sprintf("hello from app%d", i))
	}
	for i := range 2 {
		x.admin("apps", "create", fmt.Sprintf("app%d", i), "--upstream", net.JoinHostPort(s.Addr[s.App[i]], "80"), "--gateway", fmt.Sprintf("site%d", i))
	}
	x.admin("policies", "create", "eng-apps", "--groups", "eng", "--apps", "app0,app1", "--profiles", "secure")
}

func (x *standalone) admin(args ...string) string {
	x.t.Helper()
	return runCmd(x.t, x.adminEnv, false, netnsExec(x.s.Client, append([]string{filepath.Join(x.bin, "gatehouse"), "admin"}, args...)...)...)
}

func (x *standalone) startGateway(i int) {
	x.gw[i] = startProc(x.t, nil, netnsExec(x.s.Site[i], filepath.Join(x.bin, "gatehouse-gateway"), "--state-dir", x.gwState[i], "run",
		"--public-host", x.s.Addr[x.s.Site[i]], "--listen-port", "51820")...)
}

// gateway is site i's row of `gatehouse admin gateways list`: name, state,
// version, peers, flows, endpoint, last seen.
func (x *standalone) gateway(i int) []string {
	x.t.Helper()
	argv := netnsExec(x.s.Client, filepath.Join(x.bin, "gatehouse"), "admin", "gateways", "list")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(cleanEnv(), x.adminEnv...)
	out, _ := cmd.CombinedOutput() // a controller still starting answers nothing: no row
	for l := range strings.Lines(string(out)) {
		if f := strings.Fields(l); len(f) >= 4 && f[0] == fmt.Sprintf("site%d", i) {
			return f
		}
	}
	return nil
}

func (x *standalone) awaitGateway(i int, state string, within time.Duration) {
	x.t.Helper()
	Eventually(x.t, within, func() error {
		if row := x.gateway(i); row == nil || row[1] != state {
			return fmt.Errorf("gateway site%d = %v, want state %s", i, row, state)
		}
		return nil
	})
}

// awaitPeers waits until site i reports n peers.
func (x *standalone) awaitPeers(i int, n string, within time.Duration) {
	x.t.Helper()
	Eventually(x.t, within, func() error {
		if row := x.gateway(i); row == nil || row[3] != n {
			return fmt.Errorf("gateway site%d = %v, want %s peers", i, row, n)
		}
		return nil
	})
}

// local is the agent's local address for app, once it has one.
func (x *standalone) local(app string) string {
	x.t.Helper()
	var addr string
	Eventually(x.t, 15*time.Second, func() error {
		argv := netnsExec(x.s.Client, filepath.Join(x.bin, "gatehouse"), "--socket", filepath.Join(x.agentDir, "agent.sock"), "apps")
		out, _ := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		for l := range strings.Lines(string(out)) {
			if f := strings.Fields(l); len(f) >= 3 && f[0] == app+":" && strings.HasPrefix(f[1], "allowed") {
				addr = f[len(f)-1]
				return nil
			}
		}
		return fmt.Errorf("gatehouse apps = %q, want %s allowed with a local address", out, app)
	})
	return addr
}

// setPosture replaces the agent's posture override file atomically (a
// reader never sees half of it) and returns when it was replaced.
func (x *standalone) setPosture(report string) time.Time {
	tmp := x.override + ".tmp"
	Must(x.t, os.WriteFile(tmp, []byte(report), 0o600))
	at := time.Now()
	Must(x.t, os.Rename(tmp, x.override))
	return at
}

// stream opens an endless HTTP answer through addr (the app must serve
// /stream, see serveStream) and reports when it ends.
func (x *standalone) stream(addr string) (ended chan struct{}) {
	x.t.Helper()
	var c net.Conn
	Must(x.t, inNetns(x.s.Client, func() (err error) {
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
		return err
	}))
	x.t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET /stream HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	r := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadByte(); err != nil {
		x.t.Fatalf("stream through %s: no data: %v", addr, err)
	}
	c.SetReadDeadline(time.Time{})
	ended = make(chan struct{})
	go func() {
		defer close(ended)
		io.Copy(io.Discard, r)
	}()
	return ended
}

// TestStandaloneGateways: two sites, each a standalone gatehouse-gateway
// process next to its own app host; the client reaches each app only
// through its site, a grant lands only on its own gateway, posture cuts
// an open flow at that gateway, and the gateways fail closed without the
// controller and resync when it is back.
func TestStandaloneGateways(t *testing.T) {
	x := newStandalone(t)
	s := x.s

	// Each app through its own site.
	for i := range 2 {
		addr := x.local(fmt.Sprintf("app%d", i))
		got, err := getIn(s.Client, "http://"+addr+"/")
		if want := fmt.Sprintf("hello from app%d", i); err != nil || got != want {
			t.Fatalf("GET app%d via %s = %q, %v, want %q", i, addr, got, err, want)
		}
		x.awaitPeers(i, "1", 5*time.Second)
	}

	// A tunnel key granted for app0 never reaches site1: each site holds
	// exactly its own app's peer.
	for i := range 2 {
		if row := x.gateway(i); row[3] != "1" {
			t.Errorf("gateway site%d = %v, want exactly 1 peer (its own app's)", i, row)
		}
	}

	// Posture flip: the open flow through site0 ends within a second, and
	// site0 drops the peer.
	ended := x.stream(x.local("app0"))
	flip := x.setPosture(`{"disk_encryption": false, "firewall": true}`)
	select {
	case <-ended:
		t.Logf("open flow through site0 cut %s after the posture flip", time.Since(flip).Round(time.Millisecond))
	case <-time.After(time.Second):
		t.Fatal("open flow through site0 still alive 1 s after the posture flip")
	}
	x.awaitPeers(0, "0", 2*time.Second)
	x.setPosture(GoodPosture)

	// A gateway token does not enroll a device, nor a device token a gateway.
	gwTok := strings.Fields(x.admin("gateways", "create", "site9"))[0]
	devTok := strings.Fields(x.admin("tokens", "create", "--user", "alice"))[0]
	for _, tc := range []struct{ bin, tok, want string }{
		{"gatehouse-agent", gwTok, "enrollment refused"},
		{"gatehouse-gateway", devTok, "refused"},
	} {
		tokFile := filepath.Join(x.dir, tc.bin+"-wrong-token")
		Must(t, os.WriteFile(tokFile, []byte(tc.tok), 0o600))
		out := runCmd(t, nil, true, netnsExec(s.Client, filepath.Join(x.bin, tc.bin), "--state-dir", filepath.Join(x.dir, tc.bin+"-wrong"), "enroll",
			"--controller", x.url, "--token-file", tokFile, "--ca", x.ca)...)
		if !strings.Contains(out, tc.want) {
			t.Errorf("%s enroll with the other kind's token = %q, want %q", tc.bin, out, tc.want)
		}
	}

	// A gateway killed and restarted gets its peers back on reconnect, and
	// the client's new connections work again at once: the agent's tunnel
	// still holds a WireGuard session the restarted gateway never had, and
	// drops it itself when a dial gets no answer (WireGuard's own retry
	// would take ~17 s).
	addr1 := x.local("app1")
	if _, err := getIn(s.Client, "http://"+addr1+"/"); err != nil {
		t.Fatal(err)
	}
	x.gw[1].cmd.Process.Kill()
	<-x.gw[1].done
	x.awaitGateway(1, "offline", 5*time.Second)
	x.startGateway(1)
	x.gw[1].awaitLog(t, `msg="connected to controller"`, 10*time.Second)
	reconnected := time.Now()
	x.awaitPeers(1, "1", 2*time.Second)
	t.Logf("site1 back with its peer %s after it reconnected", time.Since(reconnected).Round(time.Millisecond))
	var lastErr error
	for time.Since(reconnected) < 25*time.Second {
		got, err := getIn(s.Client, "http://"+addr1+"/")
		if err == nil && got == "hello from app1" {
			lastErr = nil
			break
		}
		lastErr = fmt.Errorf("GET app1 after site1 restarted = %q, %v", got, err)
		time.Sleep(10 * time.Millisecond)
	}
	if lastErr != nil {
		t.Fatal(lastErr)
	}
	served := time.Since(reconnected)
	t.Logf("app1 served again %s after site1 reconnected", served.Round(time.Millisecond))
	if served > 2*time.Second {
		t.Errorf("app1 served again %s after site1 reconnected, want within 2 s", served.Round(time.Millisecond))
	}

	// The controller killed: every gateway drops its peers at the lease.
	x.ctrl.cmd.Process.Kill()
	<-x.ctrl.done
	killed := time.Now()
	Eventually(t, standaloneLease+3*time.Second, func() error {
		if _, err := getIn(s.Client, "http://"+addr1+"/"); err == nil {
			return fmt.Errorf("app1 still served %s after the controller died", time.Since(killed).Round(time.Millisecond))
		}
		return nil
	})
	t.Logf("access through site1 ended %s after the controller died (lease %s)", time.Since(killed).Round(time.Millisecond), standaloneLease)

	// Back: the gateways resync and access returns.
	x.ctrl = startProc(t, nil, x.ctrlArgs...)
	back := time.Now()
	for i := range 2 {
		x.awaitGateway(i, "online", 10*time.Second)
	}
	t.Logf("both gateways online again %s after the controller restarted", time.Since(back).Round(time.Millisecond))
	Eventually(t, 15*time.Second, func() error {
		got, err := getIn(s.Client, "http://"+x.local("app1")+"/")
		if err != nil || got != "hello from app1" {
			return fmt.Errorf("GET app1 after the controller came back = %q, %v", got, err)
		}
		return nil
	})
}
