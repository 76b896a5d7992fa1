package httpapi

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"golang.org/x/net/html"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
	"github.com/gatehouse-ztna/gatehouse/wire"
)

// testOwner is an owner's API token, as withActor would find it.
var testOwner = controller.ActorOf(identity.Principal{Kind: identity.PrincipalToken, Name: "test", Role: identity.Owner})

// cheapPasswords keep argon2id fast in tests; BenchmarkDeviceFlowSignIn
// runs with the real parameters.
var cheapPasswords = identity.PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// Test accounts: alice has a password and TOTP, bob a password only.
const (
	alicePassword = "correct horse battery staple"
	bobPassword   = "bob's long enough password"
)

// signinEnv is a real controller over TLS on loopback with a real SQLite
// store, users alice (password + TOTP) and bob (password), and the
// agent's CA-pinned client.
type signinEnv struct {
	tc         *testController
	base       string
	hc         *http.Client // the agent's
	logs       *syncBuffer
	totpSecret string // alice's
}

// newSigninEnv starts the env; cfg's sign-in poll interval is 1 s unless
// set; idCfg's password costs are cheap unless set.
func newSigninEnv(t testing.TB, cfg Config, idCfg identity.Config) *signinEnv {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dir := t.TempDir()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	cfg.DataDir, cfg.Logger = dir, log
	if cfg.SignIn.DeviceFlow.Interval == 0 {
		cfg.SignIn.DeviceFlow.Interval = time.Second
	}
	if idCfg.Password == (identity.PasswordParams{}) {
		idCfg.Password = cheapPasswords
	}
	ctx := context.Background()
	core, err := controller.New(ctx, controller.Config{DataDir: dir, Logger: log, Identity: idCfg})
	if err != nil {
		t.Fatalf("controller.New = %v", err)
	}
	srv, err := New(core, cfg)
	if err != nil {
		core.Close()
		t.Fatalf("New(%+v) = %v", cfg, err)
	}
	tc := &testController{Server: srv, core: core}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	t.Cleanup(func() {
		tc.Close()
		<-served
	})
	caPEM, err := os.ReadFile(srv.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	hc, err := wire.HTTPClient(caPEM, "this device")
	if err != nil {
		t.Fatal(err)
	}
	e := &signinEnv{tc: tc, base: srv.URL(), hc: hc, logs: logs}
	for _, u := range []struct{ name, password string }{{"alice", alicePassword}, {"bob", bobPassword}} {
		if _, _, err := core.Users.Create(ctx, testOwner, api.User{Name: u.name, Groups: []string{}}); err != nil {
			t.Fatalf("create user %s: %v", u.name, err)
		}
		if err := core.Identity.SetPassword(ctx, u.name, u.password); err != nil {
			t.Fatalf("SetPassword(%s) = %v", u.name, err)
		}
	}
	enr, err := core.Identity.BeginTOTP(ctx, "alice")
	if err != nil {
		t.Fatalf("BeginTOTP = %v", err)
	}
	code, _ := totp.GenerateCode(enr.Secret, time.Now())
	if err := core.Identity.ConfirmTOTP(ctx, "alice", code); err != nil {
		t.Fatalf("ConfirmTOTP = %v", err)
	}
	e.totpSecret = enr.Secret
	return e
}

// nextTOTP is a code for alice of the step after now: the step now was
// spent by the enrolment, and identity takes one step of drift.
func (e *signinEnv) nextTOTP(t testing.TB) string {
	code, err := totp.GenerateCode(e.totpSecret, time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// newKey is a fresh device key, base64.
func newKey(t testing.TB) string {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(pub)
}

// snapshot is what a refused request must not change: the codes held,
// the devices and every user's sessions.
type snapshot struct {
	codes, devices, sessions int
}

func (e *signinEnv) snapshot(t testing.TB) snapshot {
	t.Helper()
	ctx := context.Background()
	devs, err := e.tc.core.Devices.List(ctx, testOwner)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, u := range []string{"alice", "bob"} {
		ss, err := e.tc.core.Identity.Sessions(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		n += len(ss)
	}
	return snapshot{codes: e.signIn().flow.Held(), devices: len(devs), sessions: n}
}

func (e *signinEnv) signIn() *signIn { return e.tc.Server.signIn }

// pollResult is what PollToken returned.
type pollResult struct {
	tok api.TokenResponse
	err error
}

// poll runs wire.PollToken in a goroutine the test owns.
func (e *signinEnv) poll(t testing.TB, da api.DeviceAuthorization) <-chan pollResult {
	return pollToken(t, e.hc, e.base, da)
}

// pollToken runs wire.PollToken against base through hc in a goroutine
// the test owns.
func pollToken(t testing.TB, hc *http.Client, base string, da api.DeviceAuthorization) <-chan pollResult {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(da.ExpiresIn)*time.Second)
	out := make(chan pollResult, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tok, err := wire.PollToken(ctx, hc, base, da.DeviceCode, da.Interval)
		out <- pollResult{tok, err}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return out
}

// browser is a person's browser: a cookie jar, redirects followed, and
// the last page, whose one form it submits.
type browser struct {
	t    testing.TB
	hc   *http.Client
	base string
	page *http.Response
	body string
}

func (e *signinEnv) browser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	hc := *e.hc
	hc.Jar = jar
	return &browser{t: t, hc: &hc, base: e.base}
}

func (b *browser) keep(res *http.Response, err error) *http.Response {
	b.t.Helper()
	if err != nil {
		b.t.Fatalf("browser: %v", err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	b.page, b.body = res, string(raw)
	return res
}

// get opens a URL (absolute, or a path on the controller).
func (b *browser) get(u string) *http.Response {
	b.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = b.base + u
	}
	return b.keep(b.hc.Get(u))
}

// submit fills the page's form with set (over its own fields: hidden
// ones like the CSRF token, prefilled values) and posts it; button names
// the submit button pressed ("" for none).
func (b *browser) submit(set map[string]string, button string) *http.Response {
	b.t.Helper()
	action, fields, buttons := parseForm(b.t, b.body)
	if action == "" {
		b.t.Fatalf("page %s has no form:\n%s", b.page.Request.URL, b.body)
	}
	v := url.Values{}
	for k, val := range fields {
		v.Set(k, val)
	}
	for k, val := range set {
		v.Set(k, val)
	}
	if button != "" {
		val, ok := buttons[button]
		if !ok {
			b.t.Fatalf("page %s has no button %q", b.page.Request.URL, button)
		}
		v.Set("action", val)
	}
	return b.keep(b.hc.PostForm(b.base+action, v))
}

// post posts v to path as is (no form, no token unless v has one).
func (b *browser) post(path string, v url.Values) *http.Response {
	b.t.Helper()
	return b.keep(b.hc.PostForm(b.base+path, v))
}

// parseForm finds the page's form, the first with an action (a form
// without one is passkeys.js's): its action, its inputs' names and
// values, and its buttons (by id, with their value).
func parseForm(t testing.TB, page string) (action string, fields, buttons map[string]string) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatalf("parse page: %v", err)
	}
	fields, buttons = map[string]string{}, map[string]string{}
	for form := range doc.Descendants() {
		if a := attrs(form); form.Type != html.ElementNode || form.Data != "form" || a["action"] == "" {
			continue
		} else if action = a["action"]; a["method"] != "post" {
			t.Errorf("form %q method = %q, want post", action, a["method"])
		}
		for n := range form.Descendants() {
			if n.Type != html.ElementNode {
				continue
			}
			switch a := attrs(n); n.Data {
			case "input":
				fields[a["name"]] = a["value"]
			case "button":
				buttons[a["id"]] = a["value"]
			}
		}
		break
	}
	return action, fields, buttons
}

func attrs(n *html.Node) map[string]string {
	m := map[string]string{}
	for _, a := range n.Attr {
		m[a.Key] = a.Val
	}
	return m
}

// textByID is the text of the element with id, "" if none.
func textByID(t testing.TB, page, id string) string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatalf("parse page: %v", err)
	}
	for n := range doc.Descendants() {
		if n.Type == html.ElementNode && attrs(n)["id"] == id {
			var b strings.Builder
			for c := range n.Descendants() {
				if c.Type == html.TextNode {
					b.WriteString(c.Data)
				}
			}
			return strings.TrimSpace(b.String())
		}
	}
	return ""
}

// signInThroughPages drives the pages as a person does: the code, the
// password, alice's TOTP code when asked, then the button (approve or
// deny). It returns the last page's status.
func (b *browser) signInThroughPages(e *signinEnv, userCode, user, password, button string) int {
	b.t.Helper()
	b.get(api.PathDevicePage + "?user_code=" + url.QueryEscape(userCode))
	if b.page.StatusCode != http.StatusOK {
		b.t.Fatalf("GET /device = %d", b.page.StatusCode)
	}
	b.submit(nil, "")
	if b.page.Request.URL.Path != api.PathLogin {
		b.t.Fatalf("after the code: at %s (%d), want %s:\n%s", b.page.Request.URL.Path, b.page.StatusCode, api.PathLogin, b.body)
	}
	b.submit(map[string]string{"user": user, "password": password}, "")
	if _, fields, _ := parseForm(b.t, b.body); b.page.StatusCode == http.StatusOK {
		if _, totpStep := fields["code"]; totpStep {
			b.submit(map[string]string{"code": e.nextTOTP(b.t)}, "")
		}
	}
	if b.page.Request.URL.Path != pathConfirm {
		b.t.Fatalf("after signing in: at %s (%d), want %s:\n%s", b.page.Request.URL.Path, b.page.StatusCode, pathConfirm, b.body)
	}
	b.submit(nil, button)
	return b.page.StatusCode
}

// signInDevice starts a code pair for form, has user sign in with
// password in a new browser and press button, and returns the browser
// (on its last page) and what the agent's poll got.
func (e *signinEnv) signInDevice(t testing.TB, form wire.DeviceAuthorizationForm, user, password, button string) (*browser, pollResult) {
	t.Helper()
	da, err := wire.StartDeviceAuthorization(context.Background(), e.hc, e.base, form)
	if err != nil {
		t.Fatalf("StartDeviceAuthorization(%+v) = %v", form, err)
	}
	polled := e.poll(t, da)
	b := e.browser(t)
	b.signInThroughPages(e, da.UserCode, user, password, button)
	return b, <-polled
}

// openDevicePage opens /device in b and returns the session's CSRF token.
func (b *browser) openDevicePage() string {
	b.t.Helper()
	b.get(api.PathDevicePage)
	_, fields, _ := parseForm(b.t, b.body)
	return fields["csrf"]
}
