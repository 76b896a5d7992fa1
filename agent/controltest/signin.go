package controltest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/wire"
)

// The fake's sign-in side: the device authorization grant's two
// endpoints (RFC 8628, form in, JSON out) with codes a test approves or
// denies, and one session per device whose tokens the link checks at
// auth, rotates on refresh (a spent refresh token ends the session, as
// the real controller's theft detection does), and ends on logout.

// DefaultSessionLife is the access token lifetime of the fake's sessions.
const DefaultSessionLife = 10 * time.Minute

// fakeSession is one device's signed-in session.
type fakeSession struct {
	user           string
	methods        []string
	access         string
	refresh        string
	spent          map[string]bool // refresh tokens already rotated
	ended          bool
	holdNextAnswer bool // rotate at the next refresh but send nothing (the answer is lost)
}

// deviceCode is one pending device authorization.
type deviceCode struct {
	userCode string
	deviceID string             // an enrolled device, or the one approval enrolls
	newKey   ed25519.PublicKey  // set when the sign-in enrolls a device
	hostname string             // with newKey
	state    string             // "", "approved", "denied"
	user     string             // who approved
	methods  []string           // how they signed in
	slowDown int                // slow_down answers left to give
	polls    []time.Time        // when the agent polled
	redeemed bool               // a device code is redeemed once
	answer   *api.TokenResponse // kept for the test
}

// signin is the fake's sign-in state, guarded by Controller.mu.
type signin struct {
	sessions  map[string]*fakeSession // by device ID
	codes     map[string]*deviceCode  // by device code
	order     []string                // device codes in the order they were asked for
	interval  int                     // seconds, in every DeviceAuthorization
	life      time.Duration           // access token lifetime
	presented []string                // AuthMsg.AccessToken of every connection, in order
	refreshes int                     // refresh messages handled
	logouts   int                     // logout messages handled
	enrolled  int                     // devices enrolled by signing in
	ignore    bool                    // welcome every connection without a session
}

func newSignin() signin {
	return signin{sessions: map[string]*fakeSession{}, codes: map[string]*deviceCode{}, interval: 5, life: DefaultSessionLife}
}

func randomToken(prefix string) string {
	b := make([]byte, 32)
	rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// SetPollInterval sets the interval (seconds) the device authorizations
// name from now on.
func (c *Controller) SetPollInterval(seconds int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.si.interval = seconds
}

// SetSessionLife sets the access token lifetime of the tokens issued from
// now on.
func (c *Controller) SetSessionLife(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.si.life = d
}

// StartSession signs user in on device directly (as if through the
// browser) and returns the tokens, for tests that start signed in.
func (c *Controller) StartSession(device, user string, methods ...string) api.TokenResponse {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.startSessionLocked(device, user, methods)
}

func (c *Controller) startSessionLocked(device, user string, methods []string) api.TokenResponse {
	s := &fakeSession{user: user, methods: methods, access: randomToken("gha_"), refresh: randomToken("ghr_"), spent: map[string]bool{}}
	c.si.sessions[device] = s
	return api.TokenResponse{AccessToken: s.access, RefreshToken: s.refresh, TokenType: "Bearer",
		ExpiresIn: int(c.si.life / time.Second), DeviceID: device, User: user}
}

// Session is device's session as the fake holds it: its current tokens,
// and whether it ended. ok is false when the device never signed in.
func (c *Controller) Session(device string) (access, refresh string, ended, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.si.sessions[device]
	if s == nil {
		return "", "", false, false
	}
	return s.access, s.refresh, s.ended, true
}

// LoseNextRefreshAnswer makes the next refresh of device's session rotate
// its tokens without answering, as when the agent dies before the answer
// arrives.
func (c *Controller) LoseNextRefreshAnswer(device string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.si.sessions[device]; s != nil {
		s.holdNextAnswer = true
	}
}

// EndSession ends device's session as an admin or the identity room
// does, and tells the connected agent with signed_out.
func (c *Controller) EndSession(t testing.TB, device, code, message string) {
	t.Helper()
	c.mu.Lock()
	if s := c.si.sessions[device]; s != nil {
		s.ended = true
	}
	c.mu.Unlock()
	c.Send(t, api.TypeSignedOut, api.SignedOutMsg{Code: code, Message: message})
}

// IgnoreAccessTokens makes the fake welcome every connection without a
// session, as a controller that does not know the session does.
func (c *Controller) IgnoreAccessTokens() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.si.ignore = true
}

// Presented is the access token each welcomed or refused connection
// presented, in order ("" for none).
func (c *Controller) Presented() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.si.presented...)
}

// Refreshes and Logouts count the refresh and logout messages handled.
func (c *Controller) Refreshes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.si.refreshes
}

func (c *Controller) Logouts() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.si.logouts
}

// sessionAtAuthLocked checks the access token a connection of device
// presents: the welcome's session when it is the session's current one.
func (c *Controller) sessionAtAuthLocked(device, access string) *api.SessionInfo {
	c.si.presented = append(c.si.presented, access)
	s := c.si.sessions[device]
	if access == "" || s == nil || s.ended || s.access != access || c.si.ignore {
		return nil
	}
	return &api.SessionInfo{User: s.user, Methods: s.methods, ExpiresIn: int(c.si.life / time.Second)}
}

// handleSessionMsg answers a refresh or a logout from device on conn.
func (c *Controller) handleSessionMsg(ctx context.Context, conn *wire.Conn, device string, env api.Envelope) {
	c.mu.Lock()
	s := c.si.sessions[device]
	var reply any
	var typ string
	switch env.Type {
	case api.TypeLogout:
		c.si.logouts++
		if s != nil {
			s.ended = true
		}
	case api.TypeRefresh:
		c.si.refreshes++
		var m api.RefreshMsg
		env.Decode(&m)
		switch {
		case s == nil || s.ended:
			typ, reply = api.TypeSignedOut, api.SignedOutMsg{Code: api.CodeSessionRevoked, Message: "the session has ended; sign in again: gatehouse login"}
		case s.spent[m.RefreshToken]:
			s.ended = true
			typ, reply = api.TypeSignedOut, api.SignedOutMsg{Code: api.CodeSessionRevoked,
				Message: "a refresh token was used twice, so the session was ended; sign in again: gatehouse login"}
		case m.RefreshToken != s.refresh:
			typ, reply = api.TypeSignedOut, api.SignedOutMsg{Code: api.CodeSessionRevoked, Message: "unknown refresh token; sign in again: gatehouse login"}
		default:
			s.spent[s.refresh] = true
			s.access, s.refresh = randomToken("gha_"), randomToken("ghr_")
			if s.holdNextAnswer {
				s.holdNextAnswer = false
				break
			}
			typ, reply = api.TypeTokens, api.TokensMsg{AccessToken: s.access, RefreshToken: s.refresh, ExpiresIn: int(c.si.life / time.Second)}
		}
	}
	c.changedLocked()
	c.mu.Unlock()
	if reply != nil {
		conn.Write(ctx, typ, reply)
	}
}

// serveDeviceAuthorization is POST /oauth/device_authorization.
func (c *Controller) serveDeviceAuthorization(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("client_id") != api.ClientAgent {
		oauthError(w, http.StatusBadRequest, api.OAuthInvalidClient, "client_id must be "+api.ClientAgent)
		return
	}
	dc := &deviceCode{userCode: newUserCode(), deviceID: r.PostForm.Get(api.FieldDeviceID)}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case dc.deviceID != "":
		if _, ok := c.devices[dc.deviceID]; !ok {
			oauthError(w, http.StatusBadRequest, api.OAuthInvalidRequest, "unknown device "+dc.deviceID)
			return
		}
	default:
		key, err := base64.StdEncoding.DecodeString(r.PostForm.Get(api.FieldDeviceKey))
		if err != nil || len(key) != ed25519.PublicKeySize || r.PostForm.Get(api.FieldHostname) == "" {
			oauthError(w, http.StatusBadRequest, api.OAuthInvalidRequest, "name the device (device_id) or send device_key and hostname")
			return
		}
		dc.newKey, dc.hostname = key, r.PostForm.Get(api.FieldHostname)
	}
	code := randomToken("")
	c.si.codes[code] = dc
	c.si.order = append(c.si.order, code)
	c.changedLocked()
	writeJSON(w, http.StatusOK, api.DeviceAuthorization{DeviceCode: code, UserCode: dc.userCode,
		VerificationURI: c.URL + api.PathDevicePage, VerificationURIComplete: c.URL + api.PathDevicePage + "?user_code=" + dc.userCode,
		ExpiresIn: 600, Interval: c.si.interval})
}

// serveToken is POST /oauth/token.
func (c *Controller) serveToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != api.GrantTypeDeviceCode {
		oauthError(w, http.StatusBadRequest, api.OAuthUnsupportedGrantType, "only the device code grant is served")
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	dc := c.si.codes[r.PostForm.Get("device_code")]
	if dc == nil || dc.redeemed {
		oauthError(w, http.StatusBadRequest, api.OAuthInvalidGrant, "unknown or used device code")
		return
	}
	dc.polls = append(dc.polls, time.Now())
	c.changedLocked()
	switch {
	case dc.slowDown > 0:
		dc.slowDown--
		oauthError(w, http.StatusBadRequest, api.OAuthSlowDown, "")
	case dc.state == "denied":
		oauthError(w, http.StatusBadRequest, api.OAuthAccessDenied, "the user refused")
	case dc.state != "approved":
		oauthError(w, http.StatusBadRequest, api.OAuthAuthorizationPending, "")
	default:
		dc.redeemed = true
		var enrolled *api.EnrollResponse
		if dc.newKey != nil {
			c.si.enrolled++
			dc.deviceID = fmt.Sprintf("dev-signin-%d", c.si.enrolled)
			c.devices[dc.deviceID] = dc.newKey
			enrolled = &api.EnrollResponse{DeviceID: dc.deviceID, User: dc.user}
		}
		tr := c.startSessionLocked(dc.deviceID, dc.user, dc.methods)
		tr.Device = enrolled
		dc.answer = &tr
		writeJSON(w, http.StatusOK, tr)
	}
}

// newUserCode is XXXX-XXXX from 20 consonants, as the real one.
func newUserCode() string {
	const letters = "BCDFGHJKLMNPQRSTVWXZ"
	b := make([]byte, 8)
	rand.Read(b)
	var sb strings.Builder
	for i, x := range b {
		if i == 4 {
			sb.WriteByte('-')
		}
		sb.WriteByte(letters[int(x)%len(letters)])
	}
	return sb.String()
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, api.OAuthError{Error: code, Description: desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// SignIn is one device authorization the agent started, for a test to
// finish as the user in the browser would.
type SignIn struct {
	c    *Controller
	code string
	// UserCode is the code the agent was given.
	UserCode string
	// Hostname and Key are what a device enrolling by signing in sent.
	Hostname string
	Key      ed25519.PublicKey
}

// AwaitSignIn waits for the n-th device authorization (from 1).
func (c *Controller) AwaitSignIn(t testing.TB, n int) *SignIn {
	t.Helper()
	c.await(t, fmt.Sprintf("waiting for device authorization #%d", n), func() bool { return len(c.si.order) >= n })
	c.mu.Lock()
	defer c.mu.Unlock()
	code := c.si.order[n-1]
	dc := c.si.codes[code]
	return &SignIn{c: c, code: code, UserCode: dc.userCode, Hostname: dc.hostname, Key: dc.newKey}
}

// Approve finishes the sign-in as user (the next poll gets tokens).
func (s *SignIn) Approve(user string, methods ...string) {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	dc := s.c.si.codes[s.code]
	dc.state, dc.user, dc.methods = "approved", user, methods
}

// Deny refuses the sign-in (the next poll gets access_denied).
func (s *SignIn) Deny() {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	s.c.si.codes[s.code].state = "denied"
}

// SlowDown makes the next n polls answer slow_down.
func (s *SignIn) SlowDown(n int) {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	s.c.si.codes[s.code].slowDown = n
}

// Polls counts the token polls made for this sign-in.
func (s *SignIn) Polls() int {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	return len(s.c.si.codes[s.code].polls)
}

// Answer is the token answer the agent was given, nil before.
func (s *SignIn) Answer() *api.TokenResponse {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	return s.c.si.codes[s.code].answer
}
