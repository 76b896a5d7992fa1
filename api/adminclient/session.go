package adminclient

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// A signed-in admin's session (`gatehouse admin login`, docs/identity.md
// "Admins"): its tokens are bound to the admin CLI's key, and every
// request carries api.HeaderAdminProof signed by it. The access token is
// refreshed (with a proof too) shortly before it runs out.

// refreshEarly is how long before the access token's expiry it is
// refreshed, so that a request in flight does not outlive it.
const refreshEarly = 30 * time.Second

// SessionTokens are an admin session's tokens as the CLI keeps them.
// String leaves the tokens out.
type SessionTokens struct {
	Access    string    `json:"access_token"`
	Refresh   string    `json:"refresh_token"`
	ExpiresAt time.Time `json:"expires_at"` // the access token's
	User      string    `json:"user"`
}

func (t SessionTokens) String() string {
	return fmt.Sprintf("admin session of %q (access token expires %s)", t.User, t.ExpiresAt.Format(time.RFC3339))
}

// TokensOf are the tokens of a token answer received at now.
func TokensOf(r api.TokenResponse, now time.Time) SessionTokens {
	return SessionTokens{Access: r.AccessToken, Refresh: r.RefreshToken, User: r.User,
		ExpiresAt: now.Add(time.Duration(r.ExpiresIn) * time.Second)}
}

// Session signs a client's requests with the admin CLI's key and keeps
// its tokens fresh. Safe for concurrent use.
type Session struct {
	key  ed25519.PrivateKey
	save func(SessionTokens) error
	now  func() time.Time

	mu     sync.Mutex    // held across a refresh: one at a time
	tokens SessionTokens // guarded by mu
}

// NewSession is the session of tokens, bound to key; save (may be nil)
// keeps the tokens each refresh rotates to (the keyring), before they are
// used.
func NewSession(key ed25519.PrivateKey, tokens SessionTokens, save func(SessionTokens) error) *Session {
	return &Session{key: key, tokens: tokens, save: save, now: time.Now}
}

// Tokens are the session's current tokens.
func (s *Session) Tokens() SessionTokens {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens
}

// NewWithSession makes a client whose requests s signs.
func NewWithSession(baseURL string, caPEM []byte, s *Session) (*Client, error) {
	c, err := New(baseURL, "", caPEM)
	if err != nil {
		return nil, err
	}
	c.session = s
	return c, nil
}

// authorize sets req's token and proof over body, refreshing the tokens
// first when they are about to run out.
func (s *Session) authorize(ctx context.Context, c *Client, req *http.Request, body []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.now().Before(s.tokens.ExpiresAt.Add(-refreshEarly)) {
		if err := s.refreshLocked(ctx, c); err != nil {
			return err
		}
	}
	req.Header.Set("Authorization", "Bearer "+s.tokens.Access)
	return s.sign(req, body, s.tokens.Access)
}

// sign sets req's proof over body and token (the access token, or for a
// refresh the refresh token).
func (s *Session) sign(req *http.Request, body []byte, token string) error {
	proof, err := api.SignAdminProof(s.key, req.Method, req.URL.RequestURI(), body, token, s.now())
	if err != nil {
		return err
	}
	req.Header.Set(api.HeaderAdminProof, proof)
	return nil
}

// refreshLocked trades the refresh token (with a proof) for new tokens
// and saves them. Called with mu held.
func (s *Session) refreshLocked(ctx context.Context, c *Client) error {
	form := []byte(url.Values{"grant_type": {api.GrantTypeRefreshToken}, "client_id": {api.ClientAdmin},
		api.FieldRefreshToken: {s.tokens.Refresh}}.Encode())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+api.PathToken, strings.NewReader(string(form)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := s.sign(req, form, s.tokens.Refresh); err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("refresh the admin session: reach controller: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		var e api.OAuthError
		json.Unmarshal(raw, &e)
		return &Error{Status: resp.StatusCode, Message: fmt.Sprintf("refresh the admin session: %s: %s (sign in again: gatehouse admin login)", e.Error, e.Description)}
	}
	var tr api.TokenResponse
	if err := json.Unmarshal(raw, &tr); err != nil || tr.AccessToken == "" || tr.RefreshToken == "" {
		return fmt.Errorf("refresh the admin session: malformed answer from the controller")
	}
	next := TokensOf(tr, s.now())
	if s.save != nil {
		if err := s.save(next); err != nil {
			return fmt.Errorf("refresh the admin session: keep the new tokens: %w", err)
		}
	}
	s.tokens = next
	return nil
}

// Logout ends the client's admin session at the controller.
func (c *Client) Logout(ctx context.Context) error {
	if c.session == nil {
		return fmt.Errorf("this client has no admin session to end")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+api.PathAdminLogout, nil)
	if err != nil {
		return err
	}
	c.session.mu.Lock()
	req.Header.Set("Authorization", "Bearer "+c.session.tokens.Access)
	err = c.session.sign(req, nil, c.session.tokens.Access)
	c.session.mu.Unlock()
	if err != nil {
		return err
	}
	return c.send(req, nil)
}
