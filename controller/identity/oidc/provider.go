package oidc

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Clock is where a Provider reads the time (pending sign-ins' expiry, ID
// tokens' expiry); identity.SystemClock is one.
type Clock interface {
	// Now is the current wall-clock time.
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Provider is one upstream IdP. Its methods are safe for concurrent use.
type Provider struct {
	cfg     Config
	clock   Clock
	log     *slog.Logger
	pending *pendingSet

	// discovering lets one discovery run at a time; it is taken before
	// mu, and mu is never held across the IdP's answer, so Status does
	// not wait on a slow IdP.
	discovering sync.Mutex
	mu          sync.Mutex // guards disc, discErr and triedAt
	disc        *discovered
	discErr     error
	triedAt     time.Time
}

// discovered is what discovery found: the endpoints and the verifier.
type discovered struct {
	provider *gooidc.Provider
	oauth    oauth2.Config
	verifier *gooidc.IDTokenVerifier
}

// New checks cfg and returns its Provider, not yet discovered: call
// Discover (or let the first Begin do it). A nil clock is the system's.
func New(cfg Config, clock Clock, log *slog.Logger) (*Provider, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if clock == nil {
		clock = systemClock{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Provider{cfg: cfg, clock: clock, log: log.With("idp", cfg.Name), pending: newPendingSet(MaxPending)}, nil
}

// Issuer is the IdP's issuer URL, which links users (with their subject).
func (p *Provider) Issuer() string { return p.cfg.Issuer }

// Name is what the sign-in button says.
func (p *Provider) Name() string { return p.cfg.Name }

// Origins are where a sign-in sends the browser: the issuer's origin and,
// once discovered, the authorization endpoint's (scheme://host[:port]).
// A sign-in page's CSP form-action names them: browsers apply it to the
// redirect that follows the form.
func (p *Provider) Origins() []string {
	out := []string{origin(p.cfg.Issuer)}
	if d := p.current(); d != nil {
		if o := origin(d.oauth.Endpoint.AuthURL); o != "" && o != out[0] {
			out = append(out, o)
		}
	}
	return out
}

// origin is u's scheme://host[:port], "" when u does not parse.
func origin(u string) string {
	pu, err := url.Parse(u)
	if err != nil || pu.Host == "" {
		return ""
	}
	return pu.Scheme + "://" + pu.Host
}

// Status is whether the IdP can be used now, for the sign-in page.
type Status struct {
	Name      string
	Issuer    string
	Available bool
	Problem   string // why not, with what to do; "" when available
}

// Status says whether discovery succeeded; it does not call the IdP.
func (p *Provider) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := Status{Name: p.cfg.Name, Issuer: p.cfg.Issuer, Available: p.disc != nil}
	switch {
	case p.disc != nil:
	case p.discErr != nil:
		st.Problem = p.discErr.Error()
	default:
		st.Problem = "not discovered yet"
	}
	return st
}

// Discover fetches the IdP's configuration and keys' location. An
// unreachable IdP is ErrUnavailable; the controller runs on without it
// and asks again at most every 30 s when a sign-in needs it.
func (p *Provider) Discover(ctx context.Context) error {
	_, err := p.discover(ctx, true)
	return err
}

// discovery returns the discovered IdP, discovering it if that was not
// tried within rediscoverEvery.
func (p *Provider) discovery(ctx context.Context) (*discovered, error) {
	return p.discover(ctx, false)
}

func (p *Provider) discover(ctx context.Context, force bool) (*discovered, error) {
	if d := p.current(); d != nil {
		return d, nil
	}
	p.discovering.Lock()
	defer p.discovering.Unlock()
	p.mu.Lock()
	d, lastErr, tried := p.disc, p.discErr, p.triedAt
	p.mu.Unlock()
	now := p.clock.Now()
	switch {
	case d != nil: // another caller discovered it meanwhile
		return d, nil
	case !force && lastErr != nil && now.Sub(tried) < rediscoverEvery:
		return nil, lastErr
	}
	d, err := p.fetchDiscovery(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.disc, p.discErr, p.triedAt = d, err, now
	return d, err
}

func (p *Provider) current() *discovered {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.disc
}

// fetchDiscovery asks the IdP for its configuration.
func (p *Provider) fetchDiscovery(ctx context.Context) (*discovered, error) {
	ctx, cancel := context.WithTimeout(p.client(ctx), 10*time.Second)
	defer cancel()
	prov, err := gooidc.NewProvider(ctx, p.cfg.Issuer)
	if err != nil {
		p.log.Error("identity provider unavailable: sign-in with it is off until it answers", "issuer", p.cfg.Issuer, "err", err)
		return nil, fmt.Errorf("%w: %s (%s): discovery failed: %v: check --oidc-issuer and that this controller can reach it; sign-in with it is off until it answers",
			ErrUnavailable, p.cfg.Name, p.cfg.Issuer, err)
	}
	p.log.Info("identity provider discovered", "issuer", p.cfg.Issuer)
	return &discovered{
		provider: prov,
		oauth: oauth2.Config{ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret,
			RedirectURL: p.cfg.RedirectURL, Endpoint: prov.Endpoint(), Scopes: p.cfg.Scopes},
		// Signature, issuer, audience (the client ID) and expiry.
		verifier: prov.Verifier(&gooidc.Config{ClientID: p.cfg.ClientID, Now: p.clock.Now}),
	}, nil
}

// client puts the Provider's HTTP client in ctx for go-oidc and oauth2.
func (p *Provider) client(ctx context.Context) context.Context {
	return gooidc.ClientContext(context.WithValue(ctx, oauth2.HTTPClient, p.cfg.HTTPClient), p.cfg.HTTPClient)
}

// Start is a sign-in begun: send the browser to URL. Tie State to the
// browser (a cookie checked at the callback) so a callback made in
// another browser is refused (login CSRF).
type Start struct {
	URL       string
	State     string
	ExpiresAt time.Time
}

// Begin starts a sign-in: a fresh state, nonce and PKCE verifier, held
// here (single use, PendingTTL). next is the caller's own data (where to
// go after the callback), given back by Callback in Verified.Next.
func (p *Provider) Begin(ctx context.Context, next string) (Start, error) {
	d, err := p.discovery(ctx)
	if err != nil {
		return Start{}, err
	}
	pa := pendingAuth{state: randomText(), nonce: randomText(), verifier: oauth2.GenerateVerifier(),
		next: next, expires: p.clock.Now().Add(PendingTTL)}
	p.pending.put(pa, p.clock.Now())
	u := d.oauth.AuthCodeURL(pa.state, gooidc.Nonce(pa.nonce), oauth2.S256ChallengeOption(pa.verifier))
	return Start{URL: u, State: pa.state, ExpiresAt: pa.expires}, nil
}

// Callback finishes the sign-in state started, with the code the IdP gave
// the browser. The state is spent whatever happens next.
func (p *Provider) Callback(ctx context.Context, state, code string) (*Verified, error) {
	pa, ok := p.pending.take(state, p.clock.Now())
	if !ok {
		return nil, fmt.Errorf("%s: %w: start again from the sign-in page", p.cfg.Name, ErrBadState)
	}
	if code == "" {
		return nil, fmt.Errorf("%s: %w: no code in the callback: start again from the sign-in page", p.cfg.Name, ErrRefused)
	}
	d, err := p.discovery(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := d.oauth.Exchange(p.client(ctx), code, oauth2.VerifierOption(pa.verifier))
	if err != nil {
		return nil, p.upstreamError("exchange the code", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, fmt.Errorf("%s: %w: no ID token in the answer: check that the client asks for the openid scope", p.cfg.Name, ErrRefused)
	}
	idt, err := d.verifier.Verify(p.client(ctx), raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: ID token: %v", p.cfg.Name, ErrRefused, err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(pa.nonce)) != 1 {
		return nil, fmt.Errorf("%s: %w: ID token nonce does not match the sign-in's: start again", p.cfg.Name, ErrRefused)
	}
	v, err := p.verified(ctx, d, tok, idt, "")
	if err != nil {
		return nil, err
	}
	v.next = pa.next
	return v, nil
}

// Refresh redeems refreshToken, from a sign-in of subject, at the IdP and
// returns what the IdP says now (groups included). ErrRefused when the IdP
// refuses (user disabled, token revoked or expired) or its answer does
// not verify: end the session. ErrUnavailable when it cannot be asked.
func (p *Provider) Refresh(ctx context.Context, refreshToken, subject string) (*Verified, error) {
	if refreshToken == "" {
		return nil, fmt.Errorf("%s: %w: no refresh token", p.cfg.Name, ErrRefused)
	}
	d, err := p.discovery(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := d.oauth.TokenSource(p.client(ctx), &oauth2.Token{RefreshToken: refreshToken}).Token()
	if err != nil {
		return nil, p.upstreamError("refresh", err)
	}
	var idt *gooidc.IDToken
	if raw, _ := tok.Extra("id_token").(string); raw != "" {
		if idt, err = d.verifier.Verify(p.client(ctx), raw); err != nil {
			return nil, fmt.Errorf("%s: %w: refreshed ID token: %v", p.cfg.Name, ErrRefused, err)
		}
	}
	v, err := p.verified(ctx, d, tok, idt, subject)
	if err != nil && !errors.Is(err, ErrUnavailable) && !errors.Is(err, ErrRefused) {
		// The user no longer passes (email, domain, name): a refusal.
		return nil, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if err != nil {
		return nil, err
	}
	if v.refreshToken == "" { // not rotated: the old one stays good
		v.refreshToken = refreshToken
	}
	return v, nil
}

// upstreamError classifies an error from the token endpoint: an OAuth
// error answer (4xx) is a refusal, anything else (network, 5xx) leaves
// the IdP unavailable.
func (p *Provider) upstreamError(what string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
		code := re.ErrorCode
		if code == "" {
			code = re.Response.Status
		}
		return fmt.Errorf("%s: %w: %s: %s: sign in again", p.cfg.Name, ErrRefused, what, code)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the URL may carry nothing secret, but keep messages short
	}
	return fmt.Errorf("%s: %w: %s: %v: try again shortly", p.cfg.Name, ErrUnavailable, what, err)
}
