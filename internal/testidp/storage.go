package testidp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// storage is op.Storage in memory, after zitadel/oidc's
// example/server/storage, cut to the code flow with PKCE and refresh
// tokens.
type storage struct {
	key   *rsa.PrivateKey
	keyID string
	opts  Options

	mu        sync.Mutex // guards everything below
	clients   map[string]*client
	users     map[string]*User // by subject
	disabled  map[string]bool  // by subject
	requests  map[string]*authRequest
	codes     map[string]string        // code → request ID
	access    map[string]*accessToken  // by ID
	refresh   map[string]*refreshToken // by token
	refreshes int
}

var (
	_ op.Storage                   = (*storage)(nil)
	_ op.CanSetUserinfoFromRequest = (*storage)(nil)
)

func newStorage(key *rsa.PrivateKey, opts Options) *storage {
	return &storage{key: key, keyID: rand.Text(), opts: opts,
		clients: map[string]*client{}, users: map[string]*User{}, disabled: map[string]bool{},
		requests: map[string]*authRequest{}, codes: map[string]string{},
		access: map[string]*accessToken{}, refresh: map[string]*refreshToken{}}
}

type accessToken struct {
	id, clientID, subject, refreshToken string
	audience, scopes                    []string
	expires                             time.Time
}

type refreshToken struct {
	token, clientID, subject, accessID string
	audience, scopes, amr              []string
	authTime, expires                  time.Time
}

func (s *storage) signingKey() *rsa.PrivateKey { return s.key }

// checkLogin signs username into auth request id.
func (s *storage) checkLogin(id, username, password string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	req, ok := s.requests[id]
	if !ok {
		return errors.New("sign-in request not found")
	}
	for _, u := range s.users {
		if u.Username == username && u.Password == password && !s.disabled[u.Subject] {
			req.subject, req.done, req.authTime, req.amr = u.Subject, true, time.Now(), slices.Clone(u.AMR)
			return nil
		}
	}
	return errors.New("username or password wrong")
}

func (s *storage) CreateAuthRequest(_ context.Context, r *oidc.AuthRequest, userID string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.Contains(r.Prompt, oidc.PromptNone) {
		return nil, oidc.ErrLoginRequired()
	}
	req := &authRequest{id: rand.Text(), clientID: r.ClientID, redirectURI: r.RedirectURI, state: r.State,
		nonce: r.Nonce, scopes: r.Scopes, responseType: r.ResponseType, responseMode: r.ResponseMode, subject: userID}
	if r.CodeChallenge != "" {
		req.challenge = &oidc.CodeChallenge{Challenge: r.CodeChallenge, Method: r.CodeChallengeMethod}
	}
	s.requests[req.id] = req
	return req, nil
}

func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if req, ok := s.requests[id]; ok {
		return req, nil
	}
	return nil, errors.New("request not found")
}

func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	id, ok := s.codes[code]
	s.mu.Unlock()
	if !ok {
		return nil, errors.New("code invalid or expired")
	}
	return s.AuthRequestByID(ctx, id)
}

func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = id
	return nil
}

func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.requests, id)
	for code, rid := range s.codes {
		if rid == id {
			delete(s.codes, code)
		}
	}
	return nil
}

func (s *storage) CreateAccessToken(_ context.Context, r op.TokenRequest) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.newAccess(clientOf(r), r.GetSubject(), "", r.GetAudience(), r.GetScopes())
	return t.id, t.expires, nil
}

func (s *storage) newAccess(clientID, subject, refresh string, aud, scopes []string) *accessToken {
	t := &accessToken{id: rand.Text(), clientID: clientID, subject: subject, refreshToken: refresh,
		audience: aud, scopes: scopes, expires: time.Now().Add(5 * time.Minute)}
	s.access[t.id] = t
	return t
}

func clientOf(r op.TokenRequest) string {
	switch r := r.(type) {
	case *authRequest:
		return r.clientID
	case *refreshRequest:
		return r.t.clientID
	}
	return ""
}

func (s *storage) CreateAccessAndRefreshTokens(_ context.Context, r op.TokenRequest, current string) (string, string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := rand.Text()
	var rt *refreshToken
	switch r := r.(type) {
	case *authRequest:
		rt = &refreshToken{clientID: r.clientID, subject: r.subject, audience: r.GetAudience(), scopes: r.scopes,
			amr: r.amr, authTime: r.authTime}
	case *refreshRequest:
		old, ok := s.refresh[current]
		if !ok || s.disabled[old.subject] {
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("refresh token revoked")
		}
		delete(s.refresh, current) // rotation
		delete(s.access, old.accessID)
		rt = old
		s.refreshes++
	default:
		return "", "", time.Time{}, errors.New("testidp: unsupported token request")
	}
	a := s.newAccess(rt.clientID, rt.subject, next, rt.audience, rt.scopes)
	rt.token, rt.accessID, rt.expires = next, a.id, time.Now().Add(5*time.Hour)
	s.refresh[next] = rt
	return a.id, next, a.expires, nil
}

func (s *storage) TokenRequestByRefreshToken(_ context.Context, token string) (op.RefreshTokenRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, ok := s.refresh[token]
	if !ok || s.disabled[rt.subject] || time.Now().After(rt.expires) {
		return nil, oidc.ErrInvalidGrant().WithDescription("refresh token invalid")
	}
	c := *rt
	return &refreshRequest{t: &c}, nil
}

func (s *storage) TerminateSession(_ context.Context, userID, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, t := range s.refresh {
		if t.subject == userID && t.clientID == clientID {
			delete(s.refresh, k)
		}
	}
	return nil
}

func (s *storage) GetRefreshTokenInfo(_ context.Context, _ string, token string) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, ok := s.refresh[token]
	if !ok {
		return "", "", op.ErrInvalidRefreshToken
	}
	return rt.subject, rt.token, nil
}

func (s *storage) RevokeToken(_ context.Context, token, _ string, _ string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.access, token)
	delete(s.refresh, token)
	return nil
}

type sigKey struct{ s *storage }

func (k sigKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k sigKey) Key() any                                    { return k.s.key }
func (k sigKey) ID() string                                  { return k.s.keyID }

type pubKey struct{ s *storage }

func (k pubKey) ID() string                         { return k.s.keyID }
func (k pubKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k pubKey) Use() string                        { return "sig" }
func (k pubKey) Key() any                           { return &k.s.key.PublicKey }

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) { return sigKey{s}, nil }
func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}
func (s *storage) KeySet(context.Context) ([]op.Key, error) { return []op.Key{pubKey{s}}, nil }

func (s *storage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clients[id]; ok {
		return c, nil
	}
	return nil, errors.New("client not found")
}

func (s *storage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clients[id]; ok && c.secret == secret {
		return nil
	}
	return errors.New("wrong client ID or secret")
}

func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token's claims.
func (s *storage) SetUserinfoFromRequest(_ context.Context, ui *oidc.UserInfo, r op.IDTokenRequest, scopes []string) error {
	return s.userinfo(ui, r.GetSubject(), scopes, !s.opts.NoClaimsInIDToken)
}

// SetUserinfoFromToken fills the userinfo endpoint's answer.
func (s *storage) SetUserinfoFromToken(_ context.Context, ui *oidc.UserInfo, tokenID, _, _ string) error {
	s.mu.Lock()
	t, ok := s.access[tokenID]
	s.mu.Unlock()
	if !ok || time.Now().After(t.expires) {
		return errors.New("access token invalid or expired")
	}
	return s.userinfo(ui, t.subject, t.scopes, true)
}

func (s *storage) userinfo(ui *oidc.UserInfo, subject string, scopes []string, groups bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[subject]
	if !ok || s.disabled[subject] {
		return errors.New("user not found")
	}
	ui.Subject = u.Subject
	for _, sc := range scopes {
		switch sc {
		case oidc.ScopeEmail:
			ui.Email, ui.EmailVerified = u.Email, oidc.Bool(u.EmailVerified)
		case oidc.ScopeProfile:
			ui.Name, ui.PreferredUsername = u.Name, u.Username
		}
	}
	if groups {
		ui.AppendClaims(s.opts.GroupsClaim, slices.Clone(u.Groups))
		for k, v := range u.Claims {
			ui.AppendClaims(k, v)
		}
	}
	return nil
}

func (s *storage) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return errors.New("testidp: no introspection")
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("testidp: no JWT profile")
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("testidp: no JWT profile")
}

func (s *storage) Health(context.Context) error { return nil }
