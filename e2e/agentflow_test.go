package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
	"github.com/gatehouse-ztna/gatehouse/controller"
	"github.com/gatehouse-ztna/gatehouse/controller/httpapi"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
	"github.com/gatehouse-ztna/gatehouse/internal/browsertest"
	"github.com/gatehouse-ztna/gatehouse/wire"
)

// The real pieces of sign-in together: the controller over TLS, the
// agent as a process, the gatehouse CLI, and the pages in headless
// Chromium. Run under scripts/with-keyring.sh the agent keeps its tokens
// in a real (throwaway) Secret Service.

// signInWorld is an env whose eng-grafana policy asks for sign-in and
// MFA, with alice's password and TOTP set; its device flow polls every
// second.
type signInWorld struct {
	*Env
	totpSeed string
}

func newSignInWorld(t *testing.T, tune func(*controller.Config)) *signInWorld {
	t.Helper()
	env := New(t, Options{Controller: tune, Server: func(c *httpapi.Config) { c.SignIn.DeviceFlow.Interval = time.Second }})
	env.Standard(t)
	ctx := context.Background()
	p, err := adminclient.Get[api.Policy](ctx, env.Admin, api.PathPolicies, "eng-grafana")
	Must(t, err)
	p.RequireSignIn, p.RequireMFA = true, true // gatehouse admin policies … --require-signin --require-mfa
	Must(t, adminclient.Update(ctx, env.Admin, api.PathPolicies, p.Name, &p))
	Must(t, env.Admin.SetPassword(ctx, "alice", testPassword))
	enr, err := env.Admin.BeginTOTP(ctx, "alice")
	Must(t, err)
	code, err := totp.GenerateCode(enr.Secret, time.Now())
	Must(t, err)
	Must(t, env.Admin.ConfirmTOTP(ctx, "alice", code))
	return &signInWorld{Env: env, totpSeed: enr.Secret}
}

// nextTOTP is alice's code for the step after now: the step now was
// spent confirming the enrolment, and the controller allows one step of
// drift.
func (w *signInWorld) nextTOTP(t testing.TB) string {
	t.Helper()
	code, err := totp.GenerateCode(w.totpSeed, time.Now().Add(30*time.Second))
	Must(t, err)
	return code
}

// approveInBrowser is alice in headless Chromium: open the page the CLI
// printed, enter the code, sign in with password and TOTP, approve.
func (w *signInWorld) approveInBrowser(t *testing.T, page, code string) {
	t.Helper()
	b := browsertest.New(t, browsertest.Options{Trust: []*x509.Certificate{w.leaf(t)}, Timeout: 30 * time.Second})
	submit := chromedp.Click(chromedp.CSS(`button[type="submit"]`))
	b.Do(t, "enter the code", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.ID("user_code")),
		chromedp.SendKeys(chromedp.ID("user_code"), code), submit)
	b.Do(t, "sign in with the password", chromedp.WaitVisible(chromedp.ID("password")),
		chromedp.SendKeys(chromedp.ID("user"), "alice"), chromedp.SendKeys(chromedp.ID("password"), testPassword), submit)
	b.Do(t, "enter the TOTP code", chromedp.WaitVisible(chromedp.ID("code")),
		chromedp.SendKeys(chromedp.ID("code"), w.nextTOTP(t)), submit)
	b.Do(t, "approve the device", chromedp.WaitVisible(chromedp.ID("approve")), chromedp.Click(chromedp.ID("approve")),
		chromedp.WaitNotPresent(chromedp.ID("approve")))
}

// leaf is the controller's TLS certificate, which the browser pins.
func (w *signInWorld) leaf(t testing.TB) *x509.Certificate {
	t.Helper()
	ca, err := os.ReadFile(w.Server.CAFile())
	Must(t, err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	conn, err := tls.Dial("tcp", strings.TrimPrefix(w.Server.URL(), "https://"), &tls.Config{RootCAs: pool})
	Must(t, err)
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

// agentProc is a real gatehouse-agent process and the CLI that talks to
// it.
type agentProc struct {
	t        testing.TB
	bin      string
	state    string
	socket   string
	override string
	proc     *proc
}

// newAgentProc makes the agent's dirs; enroll (by token or sign-in)
// comes next, then run.
func newAgentProc(t testing.TB) *agentProc {
	t.Helper()
	sockDir, err := os.MkdirTemp("", "gh-agent") // short: a unix socket path is at most ~100 bytes
	Must(t, err)
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	dir := t.TempDir()
	a := &agentProc{t: t, bin: binaries(t), state: filepath.Join(dir, "state"), socket: filepath.Join(sockDir, "agent.sock"),
		override: filepath.Join(dir, "posture.json")}
	Must(t, os.WriteFile(a.override, []byte(GoodPosture), 0o600))
	return a
}

// enrollByToken enrolls with an enrollment token for user, as a server
// or a headless install does.
func (a *agentProc) enrollByToken(env *Env, user string) {
	a.t.Helper()
	tok, err := env.Admin.EnrollmentToken(context.Background(), user, time.Hour)
	Must(a.t, err)
	tokFile := filepath.Join(a.t.TempDir(), "enroll-token")
	Must(a.t, os.WriteFile(tokFile, []byte(tok.Token), 0o600))
	runCmd(a.t, nil, false, filepath.Join(a.bin, "gatehouse-agent"), "--state-dir", a.state, "enroll",
		"--controller", env.Server.URL(), "--token-file", tokFile, "--ca", env.Server.CAFile(), "--hostname", "laptop-"+user)
}

// run starts the agent on its enrolled state (app ports on any free port).
func (a *agentProc) run() {
	a.t.Helper()
	a.proc = startProc(a.t, nil, filepath.Join(a.bin, "gatehouse-agent"), "--state-dir", a.state, "run",
		"--socket", a.socket, "--posture-override", a.override, "--port-base", "0")
	Eventually(a.t, 15*time.Second, func() error {
		if _, err := os.Stat(a.socket); err != nil {
			return fmt.Errorf("agent socket: %w", err)
		}
		return nil
	})
}

// cli runs `gatehouse ARGS` against the agent.
func (a *agentProc) cli(wantErr bool, args ...string) string {
	a.t.Helper()
	return runCmd(a.t, nil, wantErr, append([]string{filepath.Join(a.bin, "gatehouse"), "--socket", a.socket}, args...)...)
}

// app waits until `gatehouse apps` shows app with verdict ("allowed" or
// "denied") and a local address, and returns the address and the
// whole output.
func (a *agentProc) app(name, verdict string, within time.Duration) (addr, out string) {
	a.t.Helper()
	Eventually(a.t, within, func() error {
		out = a.cli(false, "apps")
		for l := range strings.Lines(out) {
			if f := strings.Fields(l); len(f) >= 3 && f[0] == name+":" && f[1] == verdict {
				addr = f[len(f)-1]
				return nil
			}
		}
		return fmt.Errorf("gatehouse apps = %q, want %s %s with a local address", out, name, verdict)
	})
	return addr, out
}

// login runs `gatehouse login --no-browser`, reads the page and code it
// prints, and returns the running CLI with them.
func (a *agentProc) login() (cli *proc, page, code string) {
	a.t.Helper()
	cli = startProc(a.t, nil, filepath.Join(a.bin, "gatehouse"), "--socket", a.socket, "login", "--no-browser")
	page, code = openLine(a.t, cli)
	return cli, page, code
}

// openLine reads "Open PAGE and enter code CODE" from a sign-in's output.
func openLine(t testing.TB, p *proc) (page, code string) {
	t.Helper()
	f := strings.Fields(p.awaitLine(t, "Open ", 15*time.Second))
	if len(f) != 6 || !strings.HasPrefix(f[1], "https://127.0.0.1:") || !strings.HasSuffix(f[1], api.PathDevicePage) {
		t.Fatalf("sign-in printed %q, want Open https://…%s and enter code CODE", f, api.PathDevicePage)
	}
	return f[1], f[5]
}

// awaitExit waits for p to end and fails unless it succeeded.
func (p *proc) awaitExit(t testing.TB, within time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(within):
		t.Fatalf("%s still running after %s\nstdout:\n%s\nstderr:\n%s", p.name, within, p.stdout, p.stderr)
	}
	if !p.cmd.ProcessState.Success() {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", p.name, p.cmd.ProcessState, p.stdout, p.stderr)
	}
}

// wantSecretsIn is what `gatehouse status` must say about where the
// agent keeps its secrets: the OS keyring when the test has a session
// bus (scripts/with-keyring.sh), else 0600 files.
func wantSecretsIn() string {
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		return "secrets:    OS keyring"
	}
	return "secrets:    0600 files under"
}

// TestLoginThroughTheRealPieces: `gatehouse login` on a token-enrolled
// agent process, approved in headless Chromium with password and TOTP;
// the agent holds the session (in the keyring under with-keyring.sh),
// the sign-in + MFA policy lets its tunnel through; `gatehouse logout`
// cuts the open flow, refuses new ones and says to sign in again.
func TestLoginThroughTheRealPieces(t *testing.T) {
	w := newSignInWorld(t, nil)
	a := newAgentProc(t)
	a.enrollByToken(w.Env, "alice")
	a.run()
	if _, out := a.app("grafana", "denied", 15*time.Second); !strings.Contains(out, "gatehouse login") {
		t.Errorf("before signing in, gatehouse apps = %q, want the sign-in hint", out)
	}

	cli, page, code := a.login()
	w.approveInBrowser(t, page, code)
	cli.awaitExit(t, 15*time.Second)
	if out := cli.stdout.String(); !strings.Contains(out, "signed in as alice") {
		t.Errorf("gatehouse login printed %q, want signed in as alice", out)
	}
	status := a.cli(false, "status")
	for _, want := range []string{"signed in as alice (pwd, otp)", wantSecretsIn()} {
		if !strings.Contains(status, want) {
			t.Errorf("gatehouse status = %q, want %q in it", status, want)
		}
	}
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		if _, err := os.Stat(filepath.Join(a.state, "secrets", "session-tokens")); err == nil {
			t.Errorf("the tokens are in a file under %s although the keyring works", a.state)
		}
	}

	addr, _ := a.app("grafana", "allowed", 15*time.Second)
	if got, err := httpGet(addr); err != nil || got != "hello from grafana" {
		t.Fatalf("GET through %s after signing in = %q, %v; want hello from grafana", addr, got, err)
	}
	stream := OpenStreamAt(t, addr, "grafana")

	a.cli(false, "logout")
	stream.AwaitEnd(t, 2*time.Second)
	_, out := a.app("grafana", "denied", 5*time.Second)
	if !strings.Contains(out, "sign in again: gatehouse login") {
		t.Errorf("after logout, gatehouse apps = %q, want \"sign in again: gatehouse login\"", out)
	}
	if got, err := httpGet(addr); err == nil {
		t.Errorf("GET through %s after logout = %q, want refused", addr, got)
	}
	if status := a.cli(false, "status"); !strings.Contains(status, "not signed in") {
		t.Errorf("after logout gatehouse status = %q, want not signed in", status)
	}
	// The controller ended the session, not only the agent forgetting
	// its tokens: a copy of them is worth nothing now.
	ss, err := w.Ctrl.Identity.Sessions(context.Background(), "alice")
	Must(t, err)
	if len(ss) != 1 || ss[0].RevokedAt.IsZero() {
		t.Errorf("after logout alice's sessions = %+v, want the one session ended", ss)
	}
}

// TestEnrollBySignInWaitsForApproval: with device approval on, a new
// device enrolls by signing in (gatehouse-agent login), stays pending
// (gatehouse apps says why) until an admin approves it, then reaches
// grafana.
func TestEnrollBySignInWaitsForApproval(t *testing.T) {
	w := newSignInWorld(t, nil)
	Must(t, w.Admin.SetSettings(context.Background(), api.Settings{DeviceApproval: true}))
	a := newAgentProc(t)
	enroll := startProc(t, nil, filepath.Join(a.bin, "gatehouse-agent"), "--state-dir", a.state, "login",
		"--controller", w.Server.URL(), "--ca", w.Server.CAFile(), "--no-browser", "--hostname", "new-laptop")
	page, code := openLine(t, enroll)
	w.approveInBrowser(t, page, code)
	enroll.awaitExit(t, 15*time.Second)
	out := enroll.stdout.String()
	if !strings.Contains(out, "signed in as alice; enrolled device ") {
		t.Fatalf("gatehouse-agent login printed %q, want signed in as alice and the device", out)
	}
	device := strings.Fields(out[strings.Index(out, "enrolled device ")+len("enrolled device "):])[0]

	a.run()
	_, apps := a.app("grafana", "denied", 15*time.Second)
	if !strings.Contains(apps, "waits for an admin's approval") {
		t.Errorf("a pending device's gatehouse apps = %q, want the approval reason", apps)
	}
	Must(t, w.Admin.DeviceAction(context.Background(), device, "approve"))
	addr, _ := a.app("grafana", "allowed", 10*time.Second)
	Eventually(t, 10*time.Second, func() error {
		got, err := httpGet(addr)
		if err != nil || got != "hello from grafana" {
			return fmt.Errorf("GET through %s after approval = %q, %v", addr, got, err)
		}
		return nil
	})
}

// approveOverHTTP is a person finishing a sign-in at once, with a plain
// HTTP client instead of a browser: the code, user and password, the
// TOTP code when the page asks (totp gives it), then approve.
func approveOverHTTP(tb testing.TB, env *Env, code, user, password string, totp func() string) {
	tb.Helper()
	ca, err := os.ReadFile(env.Server.CAFile())
	Must(tb, err)
	hc, err := wire.HTTPClient(ca, "the test's browser")
	Must(tb, err)
	hc.Jar, _ = cookiejar.New(nil)
	base := env.Server.URL()
	page := func(res *http.Response, err error) (string, string) {
		tb.Helper()
		Must(tb, err)
		defer res.Body.Close()
		raw, err := io.ReadAll(res.Body)
		Must(tb, err)
		m := csrfField.FindStringSubmatch(string(raw))
		if res.StatusCode != http.StatusOK || m == nil {
			tb.Fatalf("sign-in page %s answered %s without a form:\n%s", res.Request.URL.Path, res.Status, raw)
		}
		return res.Request.URL.Path, html.UnescapeString(m[1])
	}
	_, csrf := page(hc.Get(base + api.PathDevicePage))
	_, csrf = page(hc.PostForm(base+api.PathDevicePage, url.Values{"csrf": {csrf}, "user_code": {code}}))
	at, csrf := page(hc.PostForm(base+api.PathLogin, url.Values{"csrf": {csrf}, "user": {user}, "password": {password}}))
	if at == api.PathLogin && totp != nil { // the TOTP page is rendered in place
		at, csrf = page(hc.PostForm(base+api.PathLogin+"/totp", url.Values{"csrf": {csrf}, "code": {totp()}}))
	}
	if at != "/device/confirm" {
		tb.Fatalf("after signing in the browser is at %s, want /device/confirm", at)
	}
	res, err := hc.PostForm(base+"/device/confirm", url.Values{"csrf": {csrf}, "action": {"approve"}})
	Must(tb, err)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		tb.Fatalf("approve the device: %s", res.Status)
	}
}

// TestRefreshKeepsTheTunnel: with 4 s access tokens (the refresh comes
// at 3.2 s: 0.8 s of slack for a loaded machine), the agent process
// refreshes over its link (rotation each time) and its open flow through
// a sign-in + MFA policy lives across several token lifetimes.
func TestRefreshKeepsTheTunnel(t *testing.T) {
	const ttl = 4 * time.Second
	start := time.Now()
	w := newSignInWorld(t, func(c *controller.Config) { c.Identity.AccessTTL = ttl })
	a := newAgentProc(t)
	a.enrollByToken(w.Env, "alice")
	a.run()
	t.Logf("%s: agent running", time.Since(start))
	cli, _, code := a.login()
	t.Logf("%s: login started", time.Since(start))
	approveOverHTTP(t, w.Env, code, "alice", testPassword, func() string { return w.nextTOTP(t) })
	cli.awaitExit(t, 15*time.Second)

	addr, _ := a.app("grafana", "allowed", 15*time.Second)
	stream := OpenStreamAt(t, addr, "grafana")
	generation := func() int { return aliceSession(t, w.Env).Generation }
	first := generation()
	t.Logf("%s: signed in, stream open; watching it for %s", time.Since(start), 4*ttl)
	end := time.Now().Add(4 * ttl)
	for time.Now().Before(end) {
		if !stream.Open() {
			t.Fatalf("the stream was cut %s before the end of 4 access-token lifetimes (generation %d → %d)\n%s",
				time.Until(end), first, generation(), a.cli(false, "status"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := generation(); got < first+3 {
		t.Errorf("session generation %d → %d over 4 lifetimes of %s, want at least 3 refreshes", first, got, ttl)
	}
	if got, err := httpGet(addr); err != nil || got != "hello from grafana" {
		t.Errorf("a new connection after 4 lifetimes = %q, %v; want hello from grafana", got, err)
	}
	if status := a.cli(false, "status"); !strings.Contains(status, "signed in as alice") {
		t.Errorf("gatehouse status = %q, want signed in as alice", status)
	}
}

// stop ends the agent process (SIGTERM) and waits for it.
func (a *agentProc) stop() {
	a.t.Helper()
	a.proc.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.proc.done:
	case <-time.After(10 * time.Second):
		a.t.Fatalf("the agent did not stop within 10 s of SIGTERM")
	}
}

// TestRestartPastTheAccessTokenRefreshes: an agent stopped longer than
// its access token lives (a laptop asleep) presents an expired token at
// its next connection; the controller refuses it as session.expired, and
// the agent refreshes with its refresh token instead of asking the user
// to sign in again.
func TestRestartPastTheAccessTokenRefreshes(t *testing.T) {
	const ttl = 3 * time.Second
	w := newSignInWorld(t, func(c *controller.Config) { c.Identity.AccessTTL = ttl })
	a := newAgentProc(t)
	a.enrollByToken(w.Env, "alice")
	a.run()
	cli, _, code := a.login()
	approveOverHTTP(t, w.Env, code, "alice", testPassword, func() string { return w.nextTOTP(t) })
	cli.awaitExit(t, 15*time.Second)
	a.app("grafana", "allowed", 15*time.Second)

	a.stop()
	before := aliceSession(t, w.Env)
	time.Sleep(ttl + time.Second) // the deadline the test is about: the stored access token is dead now
	a.run()
	addr, _ := a.app("grafana", "allowed", 15*time.Second)
	Eventually(t, 10*time.Second, func() error {
		if got, err := httpGet(addr); err != nil || got != "hello from grafana" {
			return fmt.Errorf("GET through %s after the restart = %q, %v", addr, got, err)
		}
		return nil
	})
	if status := a.cli(false, "status"); !strings.Contains(status, "signed in as alice") {
		t.Errorf("after the restart gatehouse status = %q, want still signed in as alice", status)
	}
	if after := aliceSession(t, w.Env); after.ID != before.ID || after.Generation <= before.Generation {
		t.Errorf("alice's session %s generation %d → %s generation %d, want the same session refreshed",
			before.ID, before.Generation, after.ID, after.Generation)
	}
}

// aliceSession is alice's one session, which must be live.
func aliceSession(t *testing.T, env *Env) identity.Session {
	t.Helper()
	ss, err := env.Ctrl.Identity.Sessions(context.Background(), "alice")
	Must(t, err)
	if len(ss) != 1 || !ss[0].RevokedAt.IsZero() {
		t.Fatalf("alice's sessions = %+v, want one live", ss)
	}
	return ss[0]
}
