package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/net/html"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/api"
)

// person is the demo's stand-in for alice at her browser: she knows her
// password and holds an authenticator app with her TOTP seed.
type person struct {
	user, password string
	app            *authenticator
	ca             []byte // the controller's CA, which her browser trusts
}

// signIn does what `gatehouse login` and a person at the browser do
// together: it asks the agent (over its local API) to start a sign-in,
// fills the controller's pages in — code, password, TOTP, approve — and
// waits for the agent to hold the session.
func signIn(ctx context.Context, agent *localapi.Client, p person) error {
	l, err := agent.Login(ctx)
	if err != nil {
		return fmt.Errorf("start the sign-in through the agent: %w", err)
	}
	step("signing in as %s at %s with password + TOTP (gatehouse login showed code %s)", p.user, l.VerificationURI, l.UserCode)
	b, err := newBrowser(p.ca)
	if err != nil {
		return err
	}
	if err := b.get(ctx, l.VerificationURIComplete); err != nil {
		return err
	}
	if err := b.submit(ctx, nil, "", api.PathLogin); err != nil {
		return fmt.Errorf("enter the code: %w", err)
	}
	if err := b.submit(ctx, map[string]string{"user": p.user, "password": p.password}, "", pathTOTP); err != nil {
		return fmt.Errorf("password: %w", err)
	}
	fmt.Printf("    code %s, user %s + password → asks for the TOTP code\n", l.UserCode, p.user)
	code, err := p.app.code(ctx, time.Now())
	if err != nil {
		return err
	}
	if err := b.submit(ctx, map[string]string{"code": code}, "", pathConfirm); err != nil {
		return fmt.Errorf("TOTP code: %w", err)
	}
	fmt.Printf("    TOTP code from the seed → the page shows device %q; approving it\n", b.text("hostname"))
	if err := b.submit(ctx, nil, "approve", pathDone); err != nil {
		return fmt.Errorf("approve: %w", err)
	}
	fmt.Printf("    %s\n", b.text("message"))
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		st, err := agent.LoginState(ctx)
		if err == nil && st.State == localapi.LoginSignedIn {
			step("signed in as %s (%s); the agent polled the controller for its tokens", st.User, methods(ctx, agent))
			return nil
		}
		if err == nil && st.State == localapi.LoginFailed {
			return fmt.Errorf("sign-in failed: %s", st.Error)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("the agent did not get its tokens within 20s after approval; see agent.log")
}

// methods are the factors of the agent's session once its link presents
// it ("pwd, otp").
func methods(ctx context.Context, agent *localapi.Client) string {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if st, err := agent.Status(ctx); err == nil && st.Session.SignedIn && len(st.Session.Methods) > 0 {
			return strings.Join(st.Session.Methods, ", ")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "session not on the link yet"
}

// Paths of the sign-in pages besides api.PathDevicePage and api.PathLogin
// (controller/httpapi/pages.go).
const (
	pathTOTP    = "/login/totp"
	pathConfirm = "/device/confirm"
	pathDone    = "/device/done"
)

// browser is an HTTPS client with a cookie jar that fills in and submits
// the one form of the page it is on, as a person would.
type browser struct {
	hc   *http.Client
	page page // where it is
}

// page is what the browser read on a page: its form and the text of the
// elements with an id (the error, the device's hostname, the outcome).
type page struct {
	url    *url.URL
	action string            // the form's action ("" when none)
	fields map[string]string // the form's inputs, name → value
	text   map[string]string // id → text
}

func newBrowser(ca []byte) (*browser, error) {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca) {
		return nil, errors.New("the controller's ca.pem holds no certificate")
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	return &browser{hc: &http.Client{Transport: tr, Jar: jar, Timeout: 10 * time.Second}}, nil
}

func (b *browser) get(ctx context.Context, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	return b.open(req)
}

// text is the text of the page's element with this id ("" when none).
func (b *browser) text(id string) string { return b.page.text[id] }

// submit fills the page's form with set over its own fields (the CSRF
// token, prefilled values), presses button ("" for the only one), and
// checks the browser lands on want (a page, or the form it shows).
func (b *browser) submit(ctx context.Context, set map[string]string, button, want string) error {
	if b.page.action == "" {
		return fmt.Errorf("the page at %s has no form", b.page.url.Path)
	}
	v := url.Values{}
	for k, val := range b.page.fields {
		v.Set(k, val)
	}
	for k, val := range set {
		v.Set(k, val)
	}
	if button != "" {
		v.Set("action", button)
	}
	u := b.page.url.ResolveReference(&url.URL{Path: b.page.action})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(v.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := b.open(req); err != nil {
		return err
	}
	// The TOTP step answers POST /login in place: its form tells.
	if b.page.url.Path == want || b.page.action == want {
		return nil
	}
	if msg := b.text("error"); msg != "" {
		return fmt.Errorf("the page says: %s", msg)
	}
	return fmt.Errorf("landed on %s, want %s", b.page.url.Path, want)
}

func (b *browser) open(req *http.Request) error {
	res, err := b.hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	doc, err := html.Parse(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", req.URL.Path, err)
	}
	p := page{url: res.Request.URL, fields: map[string]string{}, text: map[string]string{}}
	var form *html.Node // the first form with an action: the one a person fills in (the others are IdP and passkey buttons)
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		a := map[string]string{}
		for _, at := range n.Attr {
			a[at.Key] = at.Val
		}
		switch n.Data {
		case "form":
			if form == nil && a["action"] != "" {
				form, p.action = n, a["action"]
			}
		case "input":
			if form != nil && inside(n, form) {
				p.fields[a["name"]] = a["value"]
			}
		}
		if id := a["id"]; id != "" {
			var s strings.Builder
			for c := range n.Descendants() {
				if c.Type == html.TextNode {
					s.WriteString(c.Data)
				}
			}
			p.text[id] = strings.TrimSpace(s.String())
		}
	}
	b.page = p
	return nil
}

// authenticator makes TOTP codes from a seed as an authenticator app does
// (RFC 6238: SHA-1, six digits, 30 s steps). The controller takes a code
// only once and one step either side of now, so the demo spends the steps
// in order from the previous one rather than wait 30 s between sign-ins.
type authenticator struct {
	seed string
	last int64 // the last step spent
}

const totpPeriod = 30

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// code is the next unspent code the controller takes at now, waiting for
// the clock when every step in its window is spent.
func (a *authenticator) code(ctx context.Context, now time.Time) (string, error) {
	cur := now.Unix() / totpPeriod
	oldest := cur - 1
	if now.Add(2*time.Second).Unix()/totpPeriod != cur {
		oldest = cur // the previous step falls out of the window before the code arrives
	}
	s := max(a.last+1, oldest)
	if wait := time.Unix((s-1)*totpPeriod, 0).Sub(now); wait > 0 {
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(wait):
		}
	}
	a.last = s
	return totp.GenerateCodeCustom(a.seed, time.Unix(s*totpPeriod, 0), totpOpts)
}

// unspentFrom is when the first step the demo has not spent begins: an
// authenticator app's codes are taken from then on.
func (a *authenticator) unspentFrom() time.Time {
	return time.Unix((a.last+1)*totpPeriod, 0)
}

// inside says whether n is below form.
func inside(n, form *html.Node) bool {
	for p := n.Parent; p != nil; p = p.Parent {
		if p == form {
			return true
		}
	}
	return false
}
