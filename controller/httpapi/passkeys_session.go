package httpapi

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/gatehouse-ztna/gatehouse/controller/identity"
)

// The account pages' browser session: a random HttpOnly, SameSite=Strict
// cookie naming server-side state (its CSRF token, the sign-in's Proof,
// the passkey ceremony under way). It is the passkey pages' own until
// the sign-in pages' browser session (branch h8-signin, pages.go) is
// merged; then webSessionOf and checkCSRF are the two functions to swap
// for that one's (sessionFrom, csrfMatches) — the handlers use nothing
// else.

// webSessionTTL is how long an account page session lives: long enough
// to add a passkey, short enough that a forgotten browser is signed out.
const webSessionTTL = 15 * time.Minute

// maxWebSessions caps the sessions held in memory.
const maxWebSessions = 10_000

// webSession is one browser on the account and passkey pages.
type webSession struct {
	csrf      string    // set at creation, never changed
	expiresAt time.Time // set at creation, never changed

	mu       sync.Mutex      // guards the fields below; held through one request
	proof    *identity.Proof // the sign-in made in this browser session, if any
	device   string          // the browser's own device ID its identity session is bound to
	access   string          // that identity session's access token (never sent to the browser)
	ceremony string          // the passkey ceremony under way (never sent to the browser)
}

// webSessions holds the sessions by the SHA-256 of their cookie.
type webSessions struct {
	now func() time.Time

	mu        sync.Mutex               // guards m and lastSweep
	m         map[[32]byte]*webSession // by cookie hash
	lastSweep time.Time
}

func newWebSessions(now func() time.Time) *webSessions {
	return &webSessions{now: now, m: map[[32]byte]*webSession{}}
}

var errWebSessionsFull = errors.New("too many sign-ins under way at this controller: try again in a minute")

func (b *webSessions) lookup(v string) *webSession {
	key := sha256.Sum256([]byte(v))
	b.mu.Lock()
	defer b.mu.Unlock()
	ws := b.m[key]
	if ws != nil && !b.now().Before(ws.expiresAt) {
		delete(b.m, key)
		return nil
	}
	return ws
}

func (b *webSessions) create() (string, *webSession, error) {
	v := rand.Text() + rand.Text()
	now := b.now()
	ws := &webSession{csrf: rand.Text() + rand.Text(), expiresAt: now.Add(webSessionTTL)}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.m) >= maxWebSessions || now.Sub(b.lastSweep) > time.Minute {
		b.lastSweep = now
		for k, s := range b.m {
			if !now.Before(s.expiresAt) {
				delete(b.m, k)
			}
		}
	}
	if len(b.m) >= maxWebSessions {
		return "", nil, errWebSessionsFull
	}
	b.m[sha256.Sum256([]byte(v))] = ws
	return v, ws, nil
}

// drop forgets cookie value v's session (sign-out).
func (b *webSessions) drop(v string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, sha256.Sum256([]byte(v)))
}

// webCookieName is __Host- prefixed over TLS (Secure, Path=/, no Domain).
func (s *Server) webCookieName() string {
	if s.tls {
		return "__Host-gatehouse-account"
	}
	return "gatehouse-account"
}

// webSessionOf returns r's live session, or nil.
func (s *Server) webSessionOf(r *http.Request) *webSession {
	c, err := r.Cookie(s.webCookieName())
	if err != nil || len(c.Value) > 128 {
		return nil
	}
	return s.passkeys.sessions.lookup(c.Value)
}

// webSessionOrNew returns r's session, or a new one with its cookie set;
// when none can be made it has answered.
func (s *Server) webSessionOrNew(w http.ResponseWriter, r *http.Request) (*webSession, bool) {
	if ws := s.webSessionOf(r); ws != nil {
		return ws, true
	}
	v, ws, err := s.passkeys.sessions.create()
	if err != nil {
		w.Header().Set("Retry-After", "60")
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return nil, false
	}
	http.SetCookie(w, &http.Cookie{Name: s.webCookieName(), Value: v, Path: "/", MaxAge: int(webSessionTTL / time.Second),
		Secure: s.tls, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	return ws, true
}

// checkCSRF compares the request's one token with the session's in
// constant time.
func checkCSRF(ws *webSession, got []string) bool {
	return ws != nil && len(got) == 1 && subtle.ConstantTimeCompare([]byte(ws.csrf), []byte(got[0])) == 1
}
