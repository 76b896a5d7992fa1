package testidp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"html"
	"html/template"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// User is a person at the IdP.
type User struct {
	Subject       string // stable ID (the sub claim)
	Username      string // what they type in the login form
	Password      string
	Email         string
	EmailVerified bool
	Name          string
	Groups        []string
	// Claims are other claims the IdP releases, beside the groups (in
	// the ID token, unless NoClaimsInIDToken, and userinfo): a
	// department, an employee type.
	Claims map[string]any
	// AMR are the authentication methods the IdP reports (default
	// ["pwd"]); add "mfa" or "otp" to say a second factor was used.
	AMR []string
}

// Options shape what the IdP puts where.
type Options struct {
	// NoClaimsInIDToken leaves email, profile and groups out of the ID
	// token: the relying party must read them from userinfo.
	NoClaimsInIDToken bool
	// GroupsClaim is the claim the groups go in (default "groups").
	GroupsClaim string
	// Addr is the loopback address to listen on (default: any free port).
	Addr string
}

// IdP is one running OpenID Provider.
type IdP struct {
	// Issuer is the IdP's issuer URL (https://127.0.0.1:PORT).
	Issuer string

	opts   Options
	srv    *httptest.Server
	op     *op.Provider
	store  *storage
	hookMu sync.Mutex // guards tokenHook
	// tokenHook edits the token endpoint's JSON answers, when set.
	tokenHook func(map[string]any)
}

// New starts an IdP on loopback over TLS; it stops when t ends.
func New(t testing.TB, opts Options) *IdP {
	t.Helper()
	if opts.GroupsClaim == "" {
		opts.GroupsClaim = "groups"
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &IdP{opts: opts}
	p.store = newStorage(key, opts)
	mux := http.NewServeMux()
	p.srv = httptest.NewUnstartedServer(mux)
	if opts.Addr != "" {
		ln, err := net.Listen("tcp", opts.Addr)
		if err != nil {
			t.Fatalf("testidp: %v", err)
		}
		p.srv.Listener.Close()
		p.srv.Listener = ln
	}
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	p.Issuer = p.srv.URL

	var cryptoKey [32]byte
	_, _ = rand.Read(cryptoKey[:])
	p.op, err = op.NewProvider(&op.Config{
		CryptoKey: cryptoKey, CodeMethodS256: true, AuthMethodPost: true, GrantTypeRefreshToken: true,
		SupportedScopes: []string{"openid", "profile", "email", "offline_access", "groups"},
	}, p.store, op.StaticIssuer(p.Issuer))
	if err != nil {
		t.Fatalf("testidp: %v", err)
	}
	callback := op.AuthCallbackURL(p.op)
	mux.HandleFunc("GET /login", p.loginPage)
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		id := r.PostFormValue("id")
		if err := p.store.checkLogin(id, r.PostFormValue("username"), r.PostFormValue("password")); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			_ = loginForm.Execute(w, map[string]string{"ID": id, "Error": err.Error()})
			return
		}
		http.Redirect(w, r, callback(op.ContextWithIssuer(r.Context(), p.Issuer), id), http.StatusFound)
	})
	tokenPath := "/" + strings.TrimPrefix(p.op.TokenEndpoint().Relative(), "/")
	mux.Handle(tokenPath, p.tokenEndpoint(p.op))
	mux.Handle("/", p.op)
	return p
}

var loginForm = template.Must(template.New("login").Parse(`<!doctype html>
<title>Test IdP sign-in</title>
{{if .Error}}<p role="alert">{{.Error}}</p>{{end}}
<form method="post" action="/login">
<input type="hidden" name="id" value="{{.ID}}">
<label>User <input name="username" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button>
</form>`))

func (p *IdP) loginPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = loginForm.Execute(w, map[string]string{"ID": r.URL.Query().Get("authRequestID")})
}

// tokenEndpoint serves the op's token endpoint, letting OnTokenResponse
// edit successful answers.
func (p *IdP) tokenEndpoint(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.hookMu.Lock()
		hook := p.tokenHook
		p.hookMu.Unlock()
		if hook == nil {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if rec.Code == http.StatusOK {
			var m map[string]any
			if err := json.Unmarshal(body, &m); err == nil {
				hook(m)
				body, _ = json.Marshal(m)
			}
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	})
}

// AddClient registers a relying party (a confidential web client using
// the code flow with refresh tokens).
func (p *IdP) AddClient(id, secret string, redirectURIs ...string) {
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	p.store.clients[id] = &client{id: id, secret: secret, redirectURIs: redirectURIs, claimsInIDToken: !p.opts.NoClaimsInIDToken}
}

// AddUser adds (or replaces) a user.
func (p *IdP) AddUser(u User) {
	if len(u.AMR) == 0 {
		u.AMR = []string{"pwd"}
	}
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	p.store.users[u.Subject] = &u
}

// SetGroups replaces the user's groups; tokens issued from now on say so.
func (p *IdP) SetGroups(subject string, groups ...string) {
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	if u := p.store.users[subject]; u != nil {
		u.Groups = slices.Clone(groups)
	}
}

// SetClaims replaces the user's other claims; tokens issued from now on
// say so.
func (p *IdP) SetClaims(subject string, claims map[string]any) {
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	if u := p.store.users[subject]; u != nil {
		u.Claims = maps.Clone(claims)
	}
}

// Disable disables the user: no sign-in, and their refresh tokens are
// refused (invalid_grant).
func (p *IdP) Disable(subject string) {
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	p.store.disabled[subject] = true
}

// Refreshes is how many refresh token grants the IdP answered.
func (p *IdP) Refreshes() int {
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	return p.store.refreshes
}

// OnTokenResponse makes the token endpoint pass its successful JSON
// answers through edit (nil: untouched).
func (p *IdP) OnTokenResponse(edit func(map[string]any)) {
	p.hookMu.Lock()
	defer p.hookMu.Unlock()
	p.tokenHook = edit
}

// ResignIDToken returns raw's claims, edited, signed with this IdP's key
// (raw may come from another IdP: its signature is not checked).
func (p *IdP) ResignIDToken(raw string, edit func(claims map[string]any)) (string, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "", errors.New("testidp: not a JWT")
	}
	payload, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return "", err
	}
	var claims map[string]any
	if err := json.Unmarshal(payload.UnsafePayloadWithoutVerification(), &claims); err != nil {
		return "", err
	}
	edit(claims)
	b, _ := json.Marshal(claims)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: p.store.signingKey()},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", p.store.keyID))
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(b)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// Close stops the IdP (it is closed at the test's end anyway): from now
// on it cannot be reached.
func (p *IdP) Close() { p.srv.Close() }

// CertPEM is the IdP's TLS certificate, for a relying party that reads
// the CAs it trusts from a file.
func (p *IdP) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw})
}

// HTTPClient trusts the IdP's certificate; give it to the relying party.
func (p *IdP) HTTPClient() *http.Client {
	c := p.srv.Client()
	c.Timeout = 10 * time.Second
	return c
}

// Login signs username in as a browser would: it opens authURL (from the
// relying party's Begin), fills the IdP's login form and follows the
// IdP's redirects until one leaves the IdP, which it returns (the relying
// party's redirect URL with code and state) without opening it.
func (p *IdP) Login(ctx context.Context, authURL, username, password string) (*url.URL, error) {
	c := p.HTTPClient()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	next, err := url.Parse(authURL)
	if err != nil {
		return nil, err
	}
	var form url.Values // set once the login page was read: POST it
	for range 10 {
		var req *http.Request
		if form != nil {
			req, err = http.NewRequestWithContext(ctx, http.MethodPost, next.String(), strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			form = nil
		} else {
			req, err = http.NewRequestWithContext(ctx, http.MethodGet, next.String(), nil)
		}
		if err != nil {
			return nil, err
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther:
			loc, err := next.Parse(resp.Header.Get("Location"))
			if err != nil {
				return nil, err
			}
			if loc.Host != next.Host {
				return loc, nil
			}
			next = loc
		case resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte(`name="password"`)):
			m := hiddenID.FindSubmatch(body)
			if m == nil {
				return nil, errors.New("testidp: login form without its request ID")
			}
			form = url.Values{"id": {html.UnescapeString(string(m[1]))}, "username": {username}, "password": {password}}
			next, _ = next.Parse("/login")
		default:
			return nil, fmt.Errorf("testidp: %s %s: %s: %s", req.Method, next.Path, resp.Status, bytes.TrimSpace(body))
		}
	}
	return nil, errors.New("testidp: too many redirects")
}

var hiddenID = regexp.MustCompile(`name="id" value="([^"]*)"`)
