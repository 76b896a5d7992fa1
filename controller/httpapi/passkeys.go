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
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-ztna/gatehouse/controller"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
)

// Passkeys over HTTP: "Sign in with a passkey" on the device flow's
// /login (the Proof goes to the device being confirmed, as a password
// sign-in's does), the same on /login/passkey for the account page
// (/account), where a signed-in user lists, adds and deletes passkeys.
// The pages are server-rendered; passkeys.js (served from this origin, so
// the CSP stays script-src 'self') only runs navigator.credentials and
// posts the result to the JSON endpoints. All of it lives in the sign-in
// pages' browser session (pages.go): one cookie, one CSRF token, carried
// by every POST (a form field, or the X-CSRF-Token header for JSON, which
// must be application/json), behind the same per-source bucket and
// net/http's cross-origin check.

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

// maxPasskeyBeginBytes caps a ceremony's begin request.
const maxPasskeyBeginBytes = 1 << 10

// Where a passkey sign-in's Proof goes, named by the page that began it.
const (
	passkeyForDevice  = "device"  // /login: the device being confirmed
	passkeyForAccount = "account" // /login/passkey: this browser's account page
)

//go:embed passkeyui
var passkeyUI embed.FS

var (
	passkeyTemplates = template.Must(template.ParseFS(passkeyUI, "passkeyui/*.html"))
	passkeysJS, _    = passkeyUI.ReadFile("passkeyui/passkeys.js")
)

// passkeyState is the passkey and account part of a browser session
// (browserSession.passkey), guarded by the session's mu.
type passkeyState struct {
	accountProof  *identity.Proof // the account page's sign-in, if any
	accountDevice string          // the browser's own device ID its identity session is bound to
	accountAccess string          // that identity session's access token (never sent to the browser)
	ceremony      string          // the passkey ceremony under way (never sent to the browser)
	ceremonyFor   string          // passkeyForDevice or passkeyForAccount: where its Proof goes
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

// mountPasskeys adds the passkey pages and endpoints through h, the
// sign-in pages' wrapper (headers, per-source bucket, cross-origin check).
func (s *Server) mountPasskeys(h func(pattern string, f http.HandlerFunc)) {
	h("GET "+PathAccount, s.accountPage)
	h("POST "+pathAccountLogin, s.formPage(s.accountLogin))
	h("POST "+pathAccountLogout, s.formPage(s.accountLogout))
	h("POST "+pathPasskeyDelete, s.formPage(s.passkeyDelete))
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

// renderPasskeyPage writes passkey page name with status.
func (s *Server) renderPasskeyPage(w http.ResponseWriter, status int, name string, d passkeyPage) {
	s.renderFrom(w, status, passkeyTemplates, name, d)
}

// accountPage shows the passkeys of the user signed in here, or the
// password sign-in form.
func (s *Server) accountPage(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.browserSession(w, r)
	if !ok {
		return
	}
	defer sess.mu.Unlock()
	s.renderAccount(w, r, sess, http.StatusOK, passkeyPage{})
}

// renderAccount renders the account page for sess (locked) with d's
// message or error.
func (s *Server) renderAccount(w http.ResponseWriter, r *http.Request, sess *browserSession, status int, d passkeyPage) {
	d.Title, d.CSRF = "Your account", sess.csrf
	if user, ok := s.signedInUser(r, sess); ok {
		keys, err := s.core.Identity.Passkeys(r.Context(), user)
		if err != nil {
			s.log.Error("list passkeys", "user", user, "err", err)
			d.Error = "Your passkeys could not be listed: try again, and tell an admin if it persists."
		}
		p := *sess.passkey.accountProof
		d.User, d.Passkeys, d.Methods = user, keys, strings.Join(p.Methods(), "+")
		d.CanAdd = s.core.Identity.CanAddPasskey(p) == nil
	} else {
		d.Title = "Sign in"
	}
	if !s.core.Identity.PasskeysEnabled() && d.Message == "" {
		d.Message = "Passkeys are not set up on this controller (it needs a DNS name: --public-name)."
	}
	s.renderPasskeyPage(w, status, "account", d)
}

// signedInUser is the user of sess's account sign-in while its identity
// session is live (not revoked, user not disabled, access token not
// expired); a dead one is forgotten.
func (s *Server) signedInUser(r *http.Request, sess *browserSession) (string, bool) {
	a := &sess.passkey
	if a.accountProof == nil {
		return "", false
	}
	is, err := s.core.Identity.Authenticate(r.Context(), a.accountAccess, a.accountDevice)
	if err != nil {
		s.log.Info("account page: sign-in no longer valid", "user", a.accountProof.User(), "err", err)
		a.accountProof, a.accountAccess, a.accountDevice = nil, "", ""
		return "", false
	}
	return is.User, true
}

// signedInHere signs this browser in on the account page: an identity
// session bound to the browser (its own device ID), held server-side.
func (s *Server) signedInHere(r *http.Request, sess *browserSession, p identity.Proof) error {
	device := "browser-" + rand.Text()
	_, tok, err := s.core.Identity.StartSession(r.Context(), p, device)
	if err != nil {
		return err
	}
	a := &sess.passkey
	a.accountProof, a.accountDevice, a.accountAccess = &p, device, tok.Access
	s.log.Info("signed in on the account page", "user", p.User(), "methods", p.Methods(), "source", sourceAddr(r))
	return nil
}

// accountLogin checks user name, password and (for an account with TOTP)
// code, and signs the browser in.
func (s *Server) accountLogin(w http.ResponseWriter, r *http.Request, sess *browserSession, form url.Values) {
	user, password, code := form.Get("user"), form.Get("password"), form.Get("code")
	d := passkeyPage{Name: controller.Clip(user)}
	if user == "" || password == "" || len(user) > maxUserField || len(password) > maxPassField || len(code) > 16 {
		d.Error = "Enter your user name and password (and the code, if your account has one)."
		s.renderAccount(w, r, sess, http.StatusBadRequest, d)
		return
	}
	p, err := s.core.Identity.CheckPassword(r.Context(), identity.Login{User: user, Password: password, Code: code, Source: sourceAddr(r)})
	if err == nil {
		if err = s.signedInHere(r, sess, p); err == nil {
			http.Redirect(w, r, PathAccount, http.StatusSeeOther)
			return
		}
	}
	status, msg := signInFailure(err)
	if throttled, ok := errors.AsType[*identity.ThrottledError](err); ok {
		w.Header().Set("Retry-After", retryAfter(throttled.RetryAfter))
	}
	if status >= 500 {
		s.log.Error("account sign-in failed on the controller's side", "user", controller.Clip(user), "err", err)
	} else {
		s.log.Warn("account sign-in failed", "user", controller.Clip(user), "source", sourceAddr(r))
	}
	d.Error = msg
	s.renderAccount(w, r, sess, status, d)
}

// signInFailure maps a sign-in error to a status and what the person is
// told (never which of user, password, code or passkey was wrong).
func signInFailure(err error) (int, string) {
	var throttled *identity.ThrottledError
	switch {
	case errors.As(err, &throttled):
		return http.StatusTooManyRequests, fmt.Sprintf("Too many attempts: try again in %s s.", retryAfter(throttled.RetryAfter))
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

// accountLogout ends this browser's session: its account sign-in with
// its identity session, and any sign-in under way on the device pages.
func (s *Server) accountLogout(w http.ResponseWriter, r *http.Request, sess *browserSession, _ url.Values) {
	if a := sess.passkey; a.accountAccess != "" {
		if err := s.core.Identity.Logout(r.Context(), a.accountAccess, a.accountDevice); err != nil {
			s.log.Info("account sign-out: session already ended", "err", err)
		}
	}
	sess.passkey = passkeyState{}
	sess.proof, sess.userCode, sess.first, sess.oidc = nil, "", nil, nil
	if c, err := r.Cookie(s.cookieName()); err == nil {
		s.signIn.browsers.drop(c.Value)
	}
	http.Redirect(w, r, PathAccount, http.StatusSeeOther)
}

// passkeyDelete deletes one of the signed-in user's passkeys.
func (s *Server) passkeyDelete(w http.ResponseWriter, r *http.Request, sess *browserSession, form url.Values) {
	user, ok := s.signedInUser(r, sess)
	if !ok {
		s.renderAccount(w, r, sess, http.StatusUnauthorized, passkeyPage{Error: "Sign in first."})
		return
	}
	err := s.core.Identity.DeletePasskey(r.Context(), user, form.Get("id"))
	switch {
	case errors.Is(err, identity.ErrNotFound):
		s.renderAccount(w, r, sess, http.StatusNotFound, passkeyPage{Error: "You have no such passkey: reload the page."})
	case err != nil:
		s.log.Error("delete passkey", "user", user, "err", err)
		s.renderAccount(w, r, sess, http.StatusInternalServerError, passkeyPage{Error: "The passkey could not be deleted: try again."})
	default:
		s.log.Info("passkey deleted", "user", user)
		http.Redirect(w, r, PathAccount, http.StatusSeeOther)
	}
}

// passkeyLoginPage is "Sign in with a passkey" for the account page.
func (s *Server) passkeyLoginPage(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.browserSession(w, r)
	if !ok {
		return
	}
	defer sess.mu.Unlock()
	s.renderPasskeyPage(w, http.StatusOK, "passkey_login", passkeyPage{Title: "Sign in with a passkey", CSRF: sess.csrf})
}

// passkeyJSON runs h for a JSON POST of at most limit bytes that carries
// its session's CSRF token in X-CSRF-Token; h gets the session locked and
// the body, and returns what to answer.
func (s *Server) passkeyJSON(limit int64, h func(r *http.Request, sess *browserSession, body []byte) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, "send the request as application/json")
			return
		}
		sess := s.sessionFrom(r)
		if sess == nil || !csrfMatches(sess.csrf, r.Header.Values("X-CSRF-Token")) {
			s.log.Warn("passkey request refused: no sign-in session or wrong CSRF token", "remote", r.RemoteAddr, "path", r.URL.Path, "session", sess != nil)
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
		sess.mu.Lock()
		out, err := h(r, sess, body)
		sess.mu.Unlock()
		if err != nil {
			s.writePasskeyError(w, r, err)
			return
		}
		writeNoStoreJSON(w, http.StatusOK, out)
	}
}

// writePasskeyError answers a passkey endpoint's error.
func (s *Server) writePasskeyError(w http.ResponseWriter, r *http.Request, err error) {
	var status int
	var msg string
	switch {
	case errors.Is(err, errSignInFirst), errors.Is(err, errCodeFirst), errors.Is(err, identity.ErrMFARequired), errors.Is(err, identity.ErrMFATooOld):
		status, msg = http.StatusForbidden, err.Error()
	case errors.Is(err, errBadPasskeyRequest):
		status, msg = http.StatusBadRequest, err.Error()
	case errors.Is(err, identity.ErrPasskeyInvalid) && strings.Contains(r.URL.Path, "/account/"):
		status, msg = http.StatusBadRequest, err.Error() // registration: the user may see why
	default:
		status, msg = signInFailure(err)
	}
	if throttled, ok := errors.AsType[*identity.ThrottledError](err); ok {
		w.Header().Set("Retry-After", retryAfter(throttled.RetryAfter))
	}
	if status >= 500 {
		s.log.Error("passkey request failed on the controller's side", "path", r.URL.Path, "err", err)
	} else {
		s.log.Warn("passkey request refused", "path", r.URL.Path, "source", sourceAddr(r), "status", status, "err", controller.Clip(err.Error()))
	}
	writeError(w, status, msg)
}

var (
	errSignInFirst       = errors.New("sign in with your password and code first")
	errCodeFirst         = errors.New("enter the code your device shows first (start again at /device)")
	errBadPasskeyRequest = errors.New("bad passkey request")
)

// passkeyLoginBegin: {"user": optional, "for": "device" | "account"} →
// the request options. "device" needs a device code entered in this
// session.
func (s *Server) passkeyLoginBegin(r *http.Request, sess *browserSession, body []byte) (any, error) {
	var in struct {
		User string `json:"user"`
		For  string `json:"for"`
	}
	if err := strictJSON(body, &in); err != nil {
		return nil, err
	}
	if len(in.User) > maxUserField {
		return nil, fmt.Errorf("%w: user name too long", errBadPasskeyRequest)
	}
	switch in.For {
	case passkeyForDevice:
		if sess.userCode == "" {
			return nil, errCodeFirst
		}
	case passkeyForAccount:
	default:
		return nil, fmt.Errorf("%w: \"for\" must be %q or %q", errBadPasskeyRequest, passkeyForDevice, passkeyForAccount)
	}
	ch, err := s.core.Identity.BeginPasskeyLogin(r.Context(), in.User)
	if err != nil {
		return nil, err
	}
	sess.passkey.ceremony, sess.passkey.ceremonyFor = ch.ID, in.For
	return ch.Options, nil
}

// holdCeremony keeps a begun ceremony's ID in sess (it never goes to the
// browser, so one browser cannot finish another's) and answers its
// options.
func holdCeremony(sess *browserSession) func(identity.PasskeyChallenge, error) (any, error) {
	return func(ch identity.PasskeyChallenge, err error) (any, error) {
		if err != nil {
			return nil, err
		}
		sess.passkey.ceremony, sess.passkey.ceremonyFor = ch.ID, ""
		return ch.Options, nil
	}
}

// takeCeremony returns sess's ceremony and what it is for, and forgets
// both: one finish per begin.
func takeCeremony(sess *browserSession) (id, purpose string) {
	id, purpose = sess.passkey.ceremony, sess.passkey.ceremonyFor
	sess.passkey.ceremony, sess.passkey.ceremonyFor = "", ""
	return id, purpose
}

// passkeyLoginFinish: the credential → signed in; {"next": URL}. A
// sign-in begun on /login goes to the device being confirmed, exactly as
// a password sign-in does (signedIn in pages.go); one begun on
// /login/passkey signs this browser in on the account page.
func (s *Server) passkeyLoginFinish(r *http.Request, sess *browserSession, body []byte) (any, error) {
	id, purpose := takeCeremony(sess)
	if purpose == "" {
		id = "" // a registration's ceremony does not sign in
	}
	p, err := s.core.Identity.FinishPasskeyLogin(r.Context(), id, body, sourceAddr(r))
	if err != nil {
		return nil, err
	}
	if purpose == passkeyForAccount {
		if err := s.signedInHere(r, sess, p); err != nil {
			return nil, err
		}
		return map[string]string{"next": PathAccount}, nil
	}
	if sess.userCode == "" { // decided meanwhile in another tab
		return nil, errCodeFirst
	}
	s.log.Info("signed in", "user", p.User(), "methods", p.Methods(), "source", sourceAddr(r))
	sess.proof, sess.first = &p, nil
	return map[string]string{"next": pathConfirm}, nil
}

// passkeyAddBegin: {"name"} → the creation options, for a user signed in
// here with password and code.
func (s *Server) passkeyAddBegin(r *http.Request, sess *browserSession, body []byte) (any, error) {
	var in struct {
		Name string `json:"name"`
	}
	if err := strictJSON(body, &in); err != nil {
		return nil, err
	}
	if _, ok := s.signedInUser(r, sess); !ok {
		return nil, errSignInFirst
	}
	return holdCeremony(sess)(s.core.Identity.BeginPasskeyRegistration(r.Context(), *sess.passkey.accountProof, strings.TrimSpace(in.Name)))
}

// passkeyAddFinish: the new credential → stored; {"next": URL}.
func (s *Server) passkeyAddFinish(r *http.Request, sess *browserSession, body []byte) (any, error) {
	id, _ := takeCeremony(sess)
	if _, ok := s.signedInUser(r, sess); !ok {
		return nil, errSignInFirst
	}
	p := *sess.passkey.accountProof
	info, err := s.core.Identity.FinishPasskeyRegistration(r.Context(), p, id, body)
	if err != nil {
		return nil, err
	}
	s.log.Info("passkey added", "user", p.User(), "name", info.Name)
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
