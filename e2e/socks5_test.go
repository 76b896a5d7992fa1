package e2e

// The SOCKS5 front-end through the real pieces: real curl speaking
// SOCKS5 to an in-process agent, a real controller, gateway and app.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent"
	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
	"github.com/gatehouse-ztna/gatehouse/internal/testenv"
)

// curlSOCKS runs curl through the SOCKS5 port, the name resolved by the
// agent (--socks5-hostname), and returns its output and exit code.
func curlSOCKS(t *testing.T, socks, url string) (string, int) {
	t.Helper()
	out, err := exec.Command("curl", "-sS", "--max-time", "10", "--socks5-hostname", socks, url).CombinedOutput()
	return string(out), cmdExitCode(err)
}

func TestSOCKS5WithCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		testenv.SkipOrFail(t, "needs curl")
	}
	env := New(t, Options{})
	ctx := context.Background()
	upstream := env.Upstream(t, "grafana")
	_, port, _ := net.SplitHostPort(upstream)
	Must(t, adminclient.Create(ctx, env.Admin, api.PathUsers, &api.User{Name: "alice", Groups: []string{"eng"}}))
	Must(t, adminclient.Create(ctx, env.Admin, api.PathPostureProfiles, &api.PostureProfile{Name: "secure", DiskEncryption: true, Firewall: true}))
	Must(t, adminclient.Create(ctx, env.Admin, api.PathApps, &api.App{Name: "grafana", Upstreams: []string{upstream}}))
	Must(t, adminclient.Create(ctx, env.Admin, api.PathPolicies, &api.Policy{Name: "eng-grafana", Groups: []string{"eng"},
		Apps: []string{"grafana"}, PostureProfiles: []string{"secure"}}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Must(t, err)
	socks := l.Addr().String()
	l.Close()
	a := env.AgentWith(t, "alice", func(c *agent.Config) { c.SOCKS5 = socks })
	a.Decision("grafana", true, 5*time.Second)

	// Not an app: refused, never connected, even to the app's own
	// upstream address or the agent's loopback. (Loopback first: an open
	// proxy fails here, before a name goes to DNS.)
	// curl names the SOCKS reply: 2 not allowed by ruleset, 4 host
	// unreachable.
	for _, tt := range []struct{ url, reply string }{
		{"http://" + upstream + "/", "(2)"},
		{"http://localhost:" + port + "/", "(4)"},
		{"http://grafana:1/", "(2)"},
		{"http://attacker.invalid/", "(4)"},
	} {
		out, code := curlSOCKS(t, socks, tt.url)
		if code == 0 || strings.Contains(out, "hello from") || !strings.Contains(out, tt.reply) {
			t.Fatalf("curl --socks5-hostname %s %s: exit %d, %q; want SOCKS reply %s", socks, tt.url, code, out, tt.reply)
		}
	}
	if got := a.Status().RefusedRequests; got != 4 {
		t.Errorf("Status().RefusedRequests = %d, want 4", got)
	}
	if !env.Logs.Contains("SOCKS5 request refused") {
		t.Error("no log line for a refused SOCKS5 request")
	}

	app, err := adminclient.Get[api.App](ctx, env.Admin, api.PathApps, "grafana")
	Must(t, err)
	for _, host := range []string{"grafana", "grafana.gatehouse", app.VirtualIP} {
		url := "http://" + host + ":" + port + "/"
		if out, code := curlSOCKS(t, socks, url); code != 0 || out != "hello from grafana" {
			t.Fatalf("curl --socks5-hostname %s %s: exit %d, %q; want hello from grafana", socks, url, code, out)
		}
	}

	// Another local user: refused before any SOCKS byte is answered.
	out, code := asNobody(t, "curl -sS --max-time 5 --socks5-hostname "+socks+" http://grafana:"+port+"/")
	if code == 0 || strings.Contains(out, "hello from") {
		t.Errorf("curl as nobody: exit %d, %q; want refused", code, out)
	}
	if got := a.Status().RefusedCallers; got != 1 {
		t.Errorf("Status().RefusedCallers = %d, want 1", got)
	}
	if !env.Logs.Contains("SOCKS5 connection refused: the caller is another local user") {
		t.Error("no log line for the refused caller")
	}
	if status, want := a.run(t, "status"), "refused:    1 connections from other local users, 4 requests"; !strings.Contains(status, want) {
		t.Errorf("gatehouse status = %q, want it to contain %q", status, want)
	}

	// A posture flip resets an open flow within 1 s.
	stdout, stderr := &testenv.Buffer{}, &testenv.Buffer{}
	stream := exec.Command("curl", "-sS", "-N", "--socks5-hostname", socks, "http://grafana:"+port+"/stream")
	stream.Stdout, stream.Stderr = stdout, stderr
	Must(t, stream.Start())
	exited := make(chan error, 1)
	go func() { exited <- stream.Wait() }()
	t.Cleanup(func() { stream.Process.Kill() })
	Eventually(t, 10*time.Second, func() error {
		if stdout.String() == "" {
			return errors.New("no bytes streamed yet")
		}
		return nil
	})
	a.SetPosture(badPosture)
	flipped := time.Now()
	select {
	case err := <-exited:
		took := time.Since(flipped)
		t.Logf("posture flip → curl's SOCKS flow cut: %s; curl: exit %d, %s", took, cmdExitCode(err), strings.TrimSpace(stderr.String()))
		if took > time.Second {
			t.Errorf("the open SOCKS5 flow was cut %s after the posture flip, want ≤ 1 s", took)
		}
		if !strings.Contains(stderr.String(), "reset") {
			t.Errorf("curl's stream ended with %q, want a connection reset", stderr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the open SOCKS5 flow still runs 5 s after the posture flip")
	}

	// Denied now: "not allowed by ruleset", the reasons in the log.
	a.Decision("grafana", false, 5*time.Second)
	if out, code := curlSOCKS(t, socks, "http://grafana:"+port+"/"); code == 0 || !strings.Contains(out, "(2)") {
		t.Errorf("curl to a denied app: exit %d, %q; want SOCKS reply 2 (not allowed by ruleset)", code, out)
	}
	if !env.Logs.Contains(`msg="SOCKS5 request refused: no access to the app"`) || !env.Logs.Contains(`err="access to grafana denied: `) {
		t.Error("no log line with the controller's reasons for the denied app")
	}
	if out := a.run(t, "apps"); !strings.Contains(out, "denied") || !strings.Contains(out, "disk") {
		t.Errorf("gatehouse apps = %q, want grafana denied with the disk encryption reason", out)
	}
}

// TestSOCKS5FlagOnTheAgentBinary: `gatehouse-agent run --socks5` serves
// curl on loopback and refuses to start on any other address.
func TestSOCKS5FlagOnTheAgentBinary(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		testenv.SkipOrFail(t, "needs curl")
	}
	env := New(t, Options{})
	env.Standard(t)
	app, err := adminclient.Get[api.App](context.Background(), env.Admin, api.PathApps, "grafana")
	Must(t, err)
	_, port, _ := net.SplitHostPort(app.Upstreams[0])
	a := newAgentProc(t)
	a.enrollByToken(env, "alice")
	agentBin := filepath.Join(a.bin, "gatehouse-agent")
	args := []string{"--state-dir", a.state, "run", "--socket", a.socket, "--posture-override", a.override, "--port-base", "0"}

	for _, addr := range []string{"0.0.0.0:0", "[::]:0", "192.0.2.1:1080"} {
		out := runCmd(t, nil, true, append([]string{agentBin}, append(args, "--socks5", addr)...)...)
		if !strings.Contains(out, "only a loopback address") {
			t.Errorf("gatehouse-agent run --socks5 %s: %q; want a refusal naming loopback", addr, out)
		}
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	Must(t, err)
	socks := l.Addr().String()
	l.Close()
	startProc(t, nil, append([]string{agentBin}, append(args, "--socks5", socks)...)...)
	Eventually(t, 20*time.Second, func() error {
		if out, code := curlSOCKS(t, socks, "http://grafana.gatehouse:"+port+"/"); code != 0 || out != "hello from grafana" {
			return fmt.Errorf("curl --socks5-hostname %s: exit %d, %q", socks, code, out)
		}
		return nil
	})
}
