package httpapi

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-ztna/gatehouse/controller"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
)

// Passkeys over HTTP: "Sign in with a passkey" (/login/passkey) and the
// account page (/account) where a signed-in user lists, adds and deletes
// passkeys. The pages are server-rendered; passkeys.js (served from this
// origin, so the CSP stays script-src 'self') only runs
// navigator.credentials and posts the result to the JSON endpoints.
// Every POST carries the browser session's CSRF token (a form field, or
// the X-CSRF-Token header for JSON, which must be application/json), and
// passes net/http's cross-origin check.

// Paths of the passkey pages and endpoints.
const (
	PathAccount           = "/account"
	PathPasskeyLogin      = "/login/passkey"
	pathAccountLogin      = "/account/login"
	pathAccountLogout     = "/account/logout"
	pathPasskeyLoginBegin = "/login/passkey/begin"
	pathPasskeyLoginEnd   = "/login/passkey/finish"
	pathPasskeyAddBegin   = "/account/passkeys/begin"
	pathPasskeyAddEnd     = "/account/passkeys/finish"
	pathPasskeyDelete     = "/account/passkeys/delete"
	pathPasskeysJS        = "/passkeys.js"
)

// passkeyCSP: the pages load their own script and talk to this origin only.
const passkeyCSP = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Body caps.
const (
	maxPasskeyBeginBytes = 1 << 10
	maxPasskeyFormBytes  = 4 << 10
)

//go:embed passkeyui
var passkeyUI embed.FS

var (
	passkeyTemplates = template.Must(template.ParseFS(passkeyUI, "passkeyui/*.html"))
	passkeysJS, _    = passkeyUI.ReadFile("passkeyui/passkeys.js")
)

// passkeyPages is the server's passkey state.
type passkeyPages struct {
	sessions *webSessions
	limit    *sourceLimiter
}

// passkeyPage is what the templates are given.
type passkeyPage struct {
	Title    string
	CSRF     string
	Error    string
	Message  string
	User     string // signed in as
	Name     string // the user name typed, on a failed sign-in
	Methods  string
	CanAdd   bool
	Passkeys []identity.PasskeyInfo
}

// mountPasskeys adds the passkey pages and endpoints to mux.
func (s *Server) mountPasskeys(mux *http.ServeMux) {
	// A per-source bucket: 60 at once, then 5 a second.
	rate := Rate{Every: 200 * time.Millisecond, Burst: 60}
	s.passkeys = &passkeyPages{sessions: newWebSessions(time.Now), limit: newSourceLimiter("passkey requests", rate, time.Now)}
	cop := http.NewCrossOriginProtection()
	h := func(pattern string, f http.HandlerFunc) {
		mux.Handle(pattern, s.passkeys.limit.wrap(s.log.Warn, passkeyHeaders(cop.Handler(f))))
	}
	h("GET "+PathAccount, s.accountPage)
	h("POST "+pathAccountLogin, s.accountLogin)
	h("POST "+pathAccountLogout, s.accountLogout)
	h("POST "+pathPasskeyDelete, s.passkeyDelete)
	h("GET "+PathPasskeyLogin, s.passkeyLoginPage)
	h("POST "+pathPasskeyLoginBegin, s.passkeyJSON(maxPasskeyBeginBytes, s.passkeyLoginBegin))
	h("POST "+pathPasskeyLoginEnd, s.passkeyJSON(identity.MaxPasskeyResponse, s.passkeyLoginFinish))
	h("POST "+pathPasskeyAddBegin, s.passkeyJSON(maxPasskeyBeginBytes, s.passkeyAddBegin))
	h("POST "+pathPasskeyAddEnd, s.passkeyJSON(identity.MaxPasskeyResponse, s.passkeyAddFinish))
	h("GET "+pathPasskeysJS, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(passkeysJS)
	})
}

// passkeyHeaders sets the headers every passkey page and answer carries.
func passkeyHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", passkeyCSP)
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

func (s *Server) renderPasskeyPage(w http.ResponseWriter, status int, name string, d passkeyPage) {
	var buf bytes.Buffer
	if err := passkeyTemplates.ExecuteTemplate(&buf, name+".html", d); err != nil {
		s.log.Error("render passkey page", "page", name, "err", err)
		http.Error(w, "the controller could not show this page: tell an admin", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// accountPage shows the passkeys of the user signed in here, or the
// password sign-in form.
func (s *Server) accountPage(w http.ResponseWriter, r *http.Request) {
	ws, ok := s.webSessionOrNew(w, r)
	if !ok {
		return
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	s.renderAccount(w, r, ws, http.StatusOK, passkeyPage{})
}

// renderAccount renders the account page for ws (locked) with d's
// message or error.
func (s *Server) renderAccount(w http.ResponseWriter, r *http.Request, ws *webSession, status int, d passkeyPage) {
	d.Title, d.CSRF = "Your account", ws.csrf
	if user, ok := s.signedInUser(r, ws); ok {
		keys, err := s.core.Identity.Passkeys(r.Context(), user)
		if err != nil {
			s.log.Error("list passkeys", "user", user, "err", err)
			d.Error = "Your passkeys could not be listed: try again, and tell an admin if it persists."
		}
		d.User, d.Passkeys, d.Methods = user, keys, strings.Join(ws.proof.Methods(), "+")
		d.CanAdd = s.core.Identity.CanAddPasskey(*ws.proof) == nil
	} else {
		d.Title = "Sign in"
	}
	if !s.core.Identity.PasskeysEnabled() && d.Message == "" {
		d.Message = "Passkeys are not set up on this controller (it needs a DNS name: --public-name)."
	}
	s.renderPasskeyPage(w, status, "account", d)
}

// signedInUser is the user of ws's sign-in while its identity session is
// live (not revoked, user not disabled, access token not expired); a dead
// one is forgotten.
func (s *Server) signedInUser(r *http.Request, ws *webSession) (string, bool) {
	if ws.proof == nil {
		return "", false
	}
	sess, err := s.core.Identity.Authenticate(r.Context(), ws.access, ws.device)
	if err != nil {
		s.log.Info("account page: sign-in no longer valid", "user", ws.proof.User(), "err", err)
		ws.proof, ws.access, ws.device = nil, "", ""
		return "", false
	}
	return sess.User, true
}

// signedInHere finishes a sign-in in this browser: an identity session
// bound to the browser (its own device ID), held server-side. This is the
// function to swap when the sign-in pages' device flow is merged: there a
// sign-in's Proof goes to the device being confirmed (/device/confirm).
func (s *Server) signedInHere(r *http.Request, ws *webSession, p identity.Proof) (next string, err error) {
	device := "browser-" + rand.Text()
	_, tok, err := s.core.Identity.StartSession(r.Context(), p, device)
	if err != nil {
		return "", err
	}
	ws.proof, ws.device, ws.access = &p, device, tok.Access
	s.log.Info("signed in on the account page", "user", p.User(), "methods", p.Methods(), "source", passkeySource(r))
	return PathAccount, nil
}

// webForm reads a page's form (capped) and checks its CSRF token; it
// returns the session locked. On failure it has answered.
func (s *Server) webForm(w http.ResponseWriter, r *http.Request) (*webSession, url.Values, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxPasskeyFormBytes)
	if err := r.ParseForm(); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			http.Error(w, fmt.Sprintf("a form here takes at most %d bytes", maxPasskeyFormBytes), http.StatusRequestEntityTooLarge)
			return nil, nil, false
		}
		http.Error(w, "malformed form: reload the page and try again", http.StatusBadRequest)
		return nil, nil, false
	}
	ws := s.webSessionOf(r)
	if !checkCSRF(ws, r.PostForm["csrf"]) {
		s.log.Warn("account page: form refused: no session or wrong CSRF token", "remote", r.RemoteAddr, "path", r.URL.Path)
		http.Error(w, "this form expired or did not come from this controller's page: reload the page and try again", http.StatusForbidden)
		return nil, nil, false
	}
	ws.mu.Lock()
	return ws, r.PostForm, true
}

// accountLogin checks user name, password and (for an account with TOTP)
// code, and signs the browser in.
func (s *Server) accountLogin(w http.ResponseWriter, r *http.Request) {
	ws, form, ok := s.webForm(w, r)
	if !ok {
		return
	}
	defer ws.mu.Unlock()
	user, password, code := form.Get("user"), form.Get("password"), form.Get("code")
	d := passkeyPage{Name: controller.Clip(user)}
	if user == "" || password == "" || len(user) > 256 || len(password) > 1024 || len(code) > 16 {
		d.Error = "Enter your user name and password (and the code, if your account has one)."
		s.renderAccount(w, r, ws, http.StatusBadRequest, d)
		return
	}
	p, err := s.core.Identity.CheckPassword(r.Context(), identity.Login{User: user, Password: password, Code: code, Source: passkeySource(r)})
	if err == nil {
		if _, err = s.signedInHere(r, ws, p); err == nil {
			http.Redirect(w, r, PathAccount, http.StatusSeeOther)
			return
		}
	}
	status, msg := signInFailure(err)
	if throttled, ok := errors.AsType[*identity.ThrottledError](err); ok {
		w.Header().Set("Retry-After", retrySeconds(throttled.RetryAfter))
	}
	if status >= 500 {
		s.log.Error("account sign-in failed on the controller's side", "user", controller.Clip(user), "err", err)
	} else {
		s.log.Warn("account sign-in failed", "user", controller.Clip(user), "source", passkeySource(r))
	}
	d.Error = msg
	s.renderAccount(w, r, ws, status, d)
}

// signInFailure maps a sign-in error to a status and what the person is
// told (never which of user, password, code or passkey was wrong).
func signInFailure(err error) (int, string) {
	var throttled *identity.ThrottledError
	switch {
	case errors.As(err, &throttled):
		return http.StatusTooManyRequests, fmt.Sprintf("Too many attempts: try again in %s s.", retrySeconds(throttled.RetryAfter))
	case errors.Is(err, identity.ErrMFARequired):
		return http.StatusUnauthorized, "Enter the code from your authenticator app too."
	case errors.Is(err, identity.ErrCeremony):
		return http.StatusBadRequest, "This passkey request expired or was used already: start again."
	case errors.Is(err, identity.ErrBadCredentials), errors.Is(err, identity.ErrUserDisabled), errors.Is(err, identity.ErrPasskeyInvalid):
		return http.StatusUnauthorized, "Wrong user name, password, code or passkey."
	case errors.Is(err, identity.ErrPasskeysOff):
		return http.StatusNotFound, "Passkeys are not set up on this controller: sign in with your password."
	}
	return http.StatusInternalServerError, "The controller could not check this sign-in: try again, and tell an admin if it persists."
}

func retrySeconds(d time.Duration) string { return strconv.Itoa(int(math.Ceil(d.Seconds()))) }

// accountLogout ends this browser's sign-in and its identity session.
func (s *Server) accountLogout(w http.ResponseWriter, r *http.Request) {
	ws, _, ok := s.webForm(w, r)
	if !ok {
		return
	}
	defer ws.mu.Unlock()
	if ws.access != "" {
		if err := s.core.Identity.Logout(r.Context(), ws.access, ws.device); err != nil {
			s.log.Info("account sign-out: session already ended", "err", err)
		}
	}
	ws.proof, ws.access, ws.device, ws.ceremony = nil, "", "", ""
	if c, err := r.Cookie(s.webCookieName()); err == nil {
		s.passkeys.sessions.drop(c.Value)
	}
	http.Redirect(w, r, PathAccount, http.StatusSeeOther)
}

// passkeyDelete deletes one of the signed-in user's passkeys.
func (s *Server) passkeyDelete(w http.ResponseWriter, r *http.Request) {
	ws, form, ok := s.webForm(w, r)
	if !ok {
		return
	}
	defer ws.mu.Unlock()
	user, ok := s.signedInUser(r, ws)
	if !ok {
		s.renderAccount(w, r, ws, http.StatusUnauthorized, passkeyPage{Error: "Sign in first."})
		return
	}
	id := form.Get("id")
	err := s.core.Identity.DeletePasskey(r.Context(), user, id)
	switch {
	case errors.Is(err, identity.ErrNotFound):
		s.renderAccount(w, r, ws, http.StatusNotFound, passkeyPage{Error: "You have no such passkey: reload the page."})
	case err != nil:
		s.log.Error("delete passkey", "user", user, "err", err)
		s.renderAccount(w, r, ws, http.StatusInternalServerError, passkeyPage{Error: "The passkey could not be deleted: try again."})
	default:
		s.log.Info("passkey deleted", "user", user)
		http.Redirect(w, r, PathAccount, http.StatusSeeOther)
	}
}

// passkeyLoginPage is "Sign in with a passkey".
func (s *Server) passkeyLoginPage(w http.ResponseWriter, r *http.Request) {
	ws, ok := s.webSessionOrNew(w, r)
	if !ok {
		return
	}
	s.renderPasskeyPage(w, http.StatusOK, "passkey_login", passkeyPage{Title: "Sign in with a passkey", CSRF: ws.csrf})
}

// passkeyJSON runs h for a JSON POST of at most limit bytes that carries
// its session's CSRF token in X-CSRF-Token; h gets the session locked and
// the body, and returns what to answer.
func (s *Server) passkeyJSON(limit int64, h func(r *http.Request, ws *webSession, body []byte) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, "send the request as application/json")
			return
		}
		ws := s.webSessionOf(r)
		if !checkCSRF(ws, r.Header.Values("X-CSRF-Token")) {
			s.log.Warn("passkey request refused: no session or wrong CSRF token", "remote", r.RemoteAddr, "path", r.URL.Path)
			writeError(w, http.StatusForbidden, "no sign-in session or a wrong CSRF token: reload the page and try again")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("a request here takes at most %d bytes", limit))
			return
		}
		if err != nil {
			writeError(w, http.StatusBadRequest, "the request body could not be read: try again")
			return
		}
		if !json.Valid(body) {
			writeError(w, http.StatusBadRequest, "malformed JSON body")
			return
		}
		ws.mu.Lock()
		out, err := h(r, ws, body)
		ws.mu.Unlock()
		if err != nil {
			s.writePasskeyError(w, r, err)
			return
		}
		writeNoStore(w, http.StatusOK, out)
	}
}

// writePasskeyError answers a passkey endpoint's error.
func (s *Server) writePasskeyError(w http.ResponseWriter, r *http.Request, err error) {
	var status int
	var msg string
	switch {
	case errors.Is(err, errSignInFirst), errors.Is(err, identity.ErrMFARequired), errors.Is(err, identity.ErrMFATooOld):
		status, msg = http.StatusForbidden, err.Error()
	case errors.Is(err, errBadPasskeyRequest):
		status, msg = http.StatusBadRequest, err.Error()
	case errors.Is(err, identity.ErrPasskeyInvalid) && strings.Contains(r.URL.Path, "/account/"):
		status, msg = http.StatusBadRequest, err.Error() // registration: the user may see why
	default:
		status, msg = signInFailure(err)
	}
	if throttled, ok := errors.AsType[*identity.ThrottledError](err); ok {
		w.Header().Set("Retry-After", retrySeconds(throttled.RetryAfter))
	}
	if status >= 500 {
		s.log.Error("passkey request failed on the controller's side", "path", r.URL.Path, "err", err)
	} else {
		s.log.Warn("passkey request refused", "path", r.URL.Path, "source", passkeySource(r), "status", status, "err", controller.Clip(err.Error()))
	}
	writeError(w, status, msg)
}

var (
	errSignInFirst       = errors.New("sign in with your password and code first")
	errBadPasskeyRequest = errors.New("bad passkey request")
)

// passkeyLoginBegin: {"user": optional} → the request options.
func (s *Server) passkeyLoginBegin(r *http.Request, ws *webSession, body []byte) (any, error) {
	var in struct {
		User string `json:"user"`
	}
	if err := strictJSON(body, &in); err != nil {
		return nil, err
	}
	if len(in.User) > 256 {
		return nil, fmt.Errorf("%w: user name too long", errBadPasskeyRequest)
	}
	return holdCeremony(ws)(s.core.Identity.BeginPasskeyLogin(r.Context(), in.User))
}

// holdCeremony keeps a begun ceremony's ID in ws (it never goes to the
// browser, so one browser cannot finish another's) and answers its
// options.
func holdCeremony(ws *webSession) func(identity.PasskeyChallenge, error) (any, error) {
	return func(ch identity.PasskeyChallenge, err error) (any, error) {
		if err != nil {
			return nil, err
		}
		ws.ceremony = ch.ID
		return ch.Options, nil
	}
}

// takeCeremony returns ws's ceremony and forgets it: one finish per begin.
func takeCeremony(ws *webSession) string {
	id := ws.ceremony
	ws.ceremony = ""
	return id
}

// passkeyLoginFinish: the credential → signed in; {"next": URL}.
func (s *Server) passkeyLoginFinish(r *http.Request, ws *webSession, body []byte) (any, error) {
	p, err := s.core.Identity.FinishPasskeyLogin(r.Context(), takeCeremony(ws), body, passkeySource(r))
	if err != nil {
		return nil, err
	}
	next, err := s.signedInHere(r, ws, p)
	if err != nil {
		return nil, err
	}
	return map[string]string{"next": next}, nil
}

// passkeyAddBegin: {"name"} → the creation options, for a user signed in
// here with password and code.
func (s *Server) passkeyAddBegin(r *http.Request, ws *webSession, body []byte) (any, error) {
	var in struct {
		Name string `json:"name"`
	}
	if err := strictJSON(body, &in); err != nil {
		return nil, err
	}
	if _, ok := s.signedInUser(r, ws); !ok {
		return nil, errSignInFirst
	}
	return holdCeremony(ws)(s.core.Identity.BeginPasskeyRegistration(r.Context(), *ws.proof, strings.TrimSpace(in.Name)))
}

// passkeyAddFinish: the new credential → stored; {"next": URL}.
func (s *Server) passkeyAddFinish(r *http.Request, ws *webSession, body []byte) (any, error) {
	id := takeCeremony(ws)
	if _, ok := s.signedInUser(r, ws); !ok {
		return nil, errSignInFirst
	}
	info, err := s.core.Identity.FinishPasskeyRegistration(r.Context(), *ws.proof, id, body)
	if err != nil {
		return nil, err
	}
	s.log.Info("passkey added", "user", ws.proof.User(), "name", info.Name)
	return map[string]string{"next": PathAccount}, nil
}

// strictJSON decodes one JSON object with no unknown fields.
func strictJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil || dec.More() {
		return fmt.Errorf("%w: malformed JSON body", errBadPasskeyRequest)
	}
	return nil
}

// writeNoStore is writeJSON with Cache-Control: no-store (challenges).
func writeNoStore(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, v)
}

// passkeySource is the client's address for identity's throttle.
func passkeySource(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
