package httpapi

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
	"github.com/gatehouse-ztna/gatehouse/controller/identity/oidc"
)

// The sign-in pages: plain server-rendered forms, no JavaScript. The
// person enters the code (/device), signs in (/login, then /login/totp
// when the account has TOTP), confirms the device (/device/confirm) and
// sees the outcome (/device/done). A browser's progress is a sign-in
// session held in memory under a random HttpOnly, SameSite=Strict cookie;
// every POST carries the session's CSRF token (synchronizer pattern).

// Paths of the pages besides api.PathDevicePage and api.PathLogin.
const (
	pathTOTP    = "/login/totp"
	pathConfirm = "/device/confirm"
	pathDone    = "/device/done"
	pathCSS     = "/signin.css"
)

// pageCSP lets a page load its own stylesheet and script (passkeys.js,
// the passkey ceremony), fetch from and post its forms to this server,
// and nothing else (no inline script, no frames, no other origins).
const pageCSP = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Field caps: what a person types, with room; longer is refused unread.
const (
	maxUserField = 256
	maxPassField = 1024
)

//go:embed templates
var templateFS embed.FS

// pageTemplates are parsed once; a page is "<name>.html".
var pageTemplates = template.Must(template.ParseFS(templateFS, "templates/*.html"))

// pageCSSBody is the pages' stylesheet.
var pageCSSBody, _ = templateFS.ReadFile("templates/signin.css")

// pageData is what a page template is given.
type pageData struct {
	Title    string
	Error    string
	CSRF     string
	UserCode string
	User     string
	Message  string
	Device   controller.PendingDevice
	IdPs     []idpButton // the upstream IdPs' buttons on the login page
}

// mountPages adds the sign-in pages to mux, each with the security
// headers (refusals included), behind the per-source limit and the
// cross-origin check (a second line
// behind the CSRF token: browsers' Sec-Fetch-Site and Origin).
func (s *Server) mountPages(mux *http.ServeMux) {
	cop := http.NewCrossOriginProtection()
	page := func(pattern string, h http.HandlerFunc) {
		mux.Handle(pattern, pageHeaders(s.signIn.pages.wrap(s.log.Warn, cop.Handler(h))))
	}
	page("GET "+api.PathDevicePage, s.devicePage)
	page("POST "+api.PathDevicePage, s.formPage(s.deviceSubmit))
	page("GET "+api.PathLogin, s.sessionPage(s.loginPage))
	page("POST "+api.PathLogin, s.formPage(s.loginSubmit))
	page("POST "+pathTOTP, s.formPage(s.totpSubmit))
	page("POST "+pathOIDCStart, s.formPage(s.oidcStart))
	page("GET "+oidc.CallbackPath, s.oidcCallback)
	page("GET "+pathConfirm, s.sessionPage(s.confirmPage))
	page("POST "+pathConfirm, s.formPage(s.confirmSubmit))
	page("GET "+pathDone, s.sessionPage(s.donePage))
	page("GET "+pathCSS, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Write(pageCSSBody)
	})
	s.mountPasskeys(page)
}

// sessionPage runs h with r's sign-in session, locked; a browser without
// one (or one that has not entered a code) is sent to the start.
func (s *Server) sessionPage(h func(http.ResponseWriter, *http.Request, *browserSession)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, ok := s.existingSession(w, r)
		if !ok {
			return
		}
		defer sess.mu.Unlock()
		h(w, r, sess)
	}
}

// formPage runs h with r's sign-in session, locked, and its form, once
// the form's CSRF token matched (pagePost).
func (s *Server) formPage(h func(http.ResponseWriter, *http.Request, *browserSession, url.Values)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, form, ok := s.pagePost(w, r)
		if !ok {
			return
		}
		defer sess.mu.Unlock()
		h(w, r, sess, form)
	}
}

// pageHeaders sets the headers every sign-in page carries.
func pageHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", pageCSP)
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// render writes page name with status.
func (s *Server) render(w http.ResponseWriter, status int, name string, d pageData) {
	s.renderFrom(w, status, pageTemplates, name, d)
}

// renderFrom writes page name of set with status.
func (s *Server) renderFrom(w http.ResponseWriter, status int, set *template.Template, name string, d any) {
	var buf bytes.Buffer
	if err := set.ExecuteTemplate(&buf, name+".html", d); err != nil {
		s.log.Error("render sign-in page", "page", name, "err", err)
		http.Error(w, "the controller could not show this page: tell an admin", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// renderPage renders page; the login page with its IdPs' origins in the
// CSP.
func (s *Server) renderPage(w http.ResponseWriter, status int, page string, d pageData) {
	if page == "login" {
		s.renderLogin(w, status, d)
		return
	}
	s.render(w, status, page, d)
}

// renderError shows an error page with a way back to the start.
func (s *Server) renderError(w http.ResponseWriter, status int, title, msg string) {
	s.render(w, status, "error", pageData{Title: title, Error: msg})
}

// devicePage asks for the code, prefilled from ?user_code=.
func (s *Server) devicePage(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.browserSession(w, r)
	if !ok {
		return
	}
	defer sess.mu.Unlock()
	code := r.URL.Query().Get("user_code")
	if len(code) > 16 {
		code = ""
	}
	s.render(w, http.StatusOK, "device", pageData{Title: "Sign in a device", CSRF: sess.csrf, UserCode: code})
}

// deviceSubmit takes the code and moves on to the sign-in.
func (s *Server) deviceSubmit(w http.ResponseWriter, r *http.Request, sess *browserSession, form url.Values) {
	code := form.Get("user_code")
	pending, err := s.signIn.flow.Pending(code)
	if err != nil {
		s.log.Info("sign-in page: code refused", "remote", r.RemoteAddr)
		s.render(w, http.StatusBadRequest, "device", pageData{Title: "Sign in a device", CSRF: sess.csrf,
			UserCode: controller.Clip(code), Error: userMessage(err)})
		return
	}
	sess.userCode, sess.proof, sess.first = pending.UserCode, nil, nil
	http.Redirect(w, r, api.PathLogin, http.StatusSeeOther)
}

// loginPage asks for user name and password.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request, sess *browserSession) {
	if sess.userCode == "" { // decided already: nothing to sign in for
		http.Redirect(w, r, api.PathDevicePage, http.StatusSeeOther)
		return
	}
	s.renderLogin(w, http.StatusOK, s.loginData(sess))
}

// loginData is the login page's data for sess: its form and the IdPs.
func (s *Server) loginData(sess *browserSession) pageData {
	return pageData{Title: "Sign in", CSRF: sess.csrf, UserCode: sess.userCode, IdPs: s.idpButtons()}
}

// loginSubmit checks the password; an account with TOTP is asked for
// its code next.
func (s *Server) loginSubmit(w http.ResponseWriter, r *http.Request, sess *browserSession, form url.Values) {
	if !s.needCode(w, sess) {
		return
	}
	user, password := form.Get("user"), form.Get("password")
	data := s.loginData(sess)
	data.User = controller.Clip(user)
	if user == "" || password == "" || len(user) > maxUserField || len(password) > maxPassField {
		data.Error = "Enter your user name and password."
		s.renderLogin(w, http.StatusBadRequest, data)
		return
	}
	proof, first, err := s.core.Identity.SignInPassword(r.Context(), identity.Login{User: user, Password: password, Source: sourceAddr(r)}, sess.id)
	if errors.Is(err, identity.ErrMFARequired) {
		sess.proof, sess.first = nil, &first
		s.render(w, http.StatusOK, "totp", pageData{Title: "Second factor", CSRF: sess.csrf, User: first.User()})
		return
	}
	s.signedIn(w, r, sess, user, proof, err, "login", data)
}

// totpSubmit checks the second factor: identity completes the
// FirstFactor the password step left in the sign-in session (bound to
// it; no password is kept).
func (s *Server) totpSubmit(w http.ResponseWriter, r *http.Request, sess *browserSession, form url.Values) {
	if !s.needCode(w, sess) {
		return
	}
	if sess.first == nil {
		s.renderError(w, http.StatusBadRequest, "Sign in first", "Enter your user name and password before the code.")
		return
	}
	code := form.Get("code")
	user := sess.first.User()
	data := pageData{Title: "Second factor", CSRF: sess.csrf, User: user}
	if code == "" || len(code) > 16 {
		data.Error = "Enter the 6-digit code from your authenticator app."
		s.render(w, http.StatusBadRequest, "totp", data)
		return
	}
	proof, err := s.core.Identity.CompleteTOTP(r.Context(), *sess.first, sess.id, code, sourceAddr(r))
	if errors.Is(err, identity.ErrFirstFactorSpent) {
		s.log.Info("sign-in: code step after its password step expired or was spent", "user", controller.Clip(user), "source", sourceAddr(r))
		sess.first = nil
		data = s.loginData(sess)
		data.User, data.Error = user, "Your sign-in took too long or had too many wrong codes: enter your password again."
		s.renderLogin(w, http.StatusBadRequest, data)
		return
	}
	s.signedIn(w, r, sess, user, proof, err, "totp", data)
}

// signedIn finishes a sign-in step: on success the session holds the
// proof and the person confirms the device; a failure shows one generic
// message (and is logged, without what was typed), a throttled attempt
// the wait.
func (s *Server) signedIn(w http.ResponseWriter, r *http.Request, sess *browserSession, user string, proof identity.Proof, err error, page string, data pageData) {
	src := sourceAddr(r)
	if throttled, ok := errors.AsType[*identity.ThrottledError](err); ok {
		wait := retryAfter(throttled.RetryAfter)
		s.log.Warn("sign-in throttled", "user", controller.Clip(user), "source", src, "retry_after_s", wait)
		w.Header().Set("Retry-After", wait)
		data.Error = fmt.Sprintf("Too many attempts, try again in %s s.", wait)
		s.renderPage(w, http.StatusTooManyRequests, page, data)
		return
	}
	if err != nil {
		if errors.Is(err, identity.ErrBadCredentials) || errors.Is(err, identity.ErrUserDisabled) {
			s.log.Warn("sign-in failed", "user", controller.Clip(user), "source", src, "page", page)
			data.Error = "Wrong user name, password or code."
			s.renderPage(w, http.StatusUnauthorized, page, data)
			return
		}
		s.log.Error("sign-in failed on the controller's side", "user", controller.Clip(user), "source", src, "err", err)
		data.Error = "The controller could not check this sign-in: try again, and tell an admin if it persists."
		s.renderPage(w, http.StatusInternalServerError, page, data)
		return
	}
	s.log.Info("signed in", "user", proof.User(), "methods", proof.Methods(), "source", src)
	sess.proof, sess.first = &proof, nil
	http.Redirect(w, r, pathConfirm, http.StatusSeeOther)
}

// confirmPage shows the device the code names.
func (s *Server) confirmPage(w http.ResponseWriter, r *http.Request, sess *browserSession) {
	if sess.proof == nil {
		next := api.PathLogin
		if sess.userCode == "" {
			next = pathDone // decided already
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	pending, err := s.signIn.flow.Pending(sess.userCode)
	if err != nil {
		s.renderError(w, http.StatusBadRequest, "Code no longer valid", userMessage(err))
		return
	}
	s.render(w, http.StatusOK, "confirm", pageData{Title: "Approve this device?", CSRF: sess.csrf,
		UserCode: sess.userCode, User: sess.proof.User(), Device: pending})
}

// confirmSubmit approves or denies the device; either way the sign-in
// session's proof is spent (one sign-in, one device).
func (s *Server) confirmSubmit(w http.ResponseWriter, r *http.Request, sess *browserSession, form url.Values) {
	if sess.proof == nil {
		s.renderError(w, http.StatusBadRequest, "Sign in first", "Sign in before approving a device.")
		return
	}
	proof, code := *sess.proof, sess.userCode
	var err error
	switch form.Get("action") {
	case "approve":
		var res controller.Approval
		res, err = s.signIn.flow.Approve(r.Context(), code, proof)
		switch {
		case err != nil:
		case res.AdminCLI:
			sess.done = "The admin CLI is signed in as you: its commands act with your role, each signed by its key."
		case res.Enrolled != nil && res.Enrolled.State == identity.StatePending:
			sess.done = fmt.Sprintf("Device %s is enrolled as yours and waits for an admin's approval (gatehouse admin devices approve %s). It has your sign-in; it gets access once approved.", res.DeviceID, res.DeviceID)
		case res.Enrolled != nil:
			sess.done = fmt.Sprintf("Device %s is enrolled as yours and signed in.", res.DeviceID)
		default:
			sess.done = fmt.Sprintf("Device %s is signed in.", res.DeviceID)
		}
	case "deny":
		if err = s.signIn.flow.Deny(code); err == nil {
			sess.done = "The device was denied: it gets no sign-in."
		}
	default:
		s.renderError(w, http.StatusBadRequest, "Approve or deny", "Choose Approve or Deny.")
		return
	}
	sess.proof, sess.userCode = nil, ""
	if err != nil {
		status := http.StatusBadRequest
		if !errors.Is(err, controller.ErrInvalid) && !errors.Is(err, controller.ErrForbidden) {
			s.log.Error("device flow approval failed", "user", proof.User(), "err", err)
			status = http.StatusInternalServerError
		}
		s.renderError(w, status, "Not approved", userMessage(err))
		return
	}
	http.Redirect(w, r, pathDone, http.StatusSeeOther)
}

// donePage says how the confirmation went.
func (s *Server) donePage(w http.ResponseWriter, r *http.Request, sess *browserSession) {
	if sess.done == "" {
		http.Redirect(w, r, api.PathDevicePage, http.StatusSeeOther)
		return
	}
	s.render(w, http.StatusOK, "done", pageData{Title: "Done", Message: sess.done})
}

// needCode sends a session without a code back to the start.
func (s *Server) needCode(w http.ResponseWriter, sess *browserSession) bool {
	if sess.userCode == "" {
		s.renderError(w, http.StatusBadRequest, "Enter the code first", "Enter the code your device shows before signing in.")
		return false
	}
	return true
}

// userMessage is err's message for the person, without the error kind's
// prefix ("bad request: ").
func userMessage(err error) string {
	for _, kind := range []error{controller.ErrInvalid, controller.ErrForbidden} {
		if errors.Is(err, kind) {
			msg := err.Error()
			if p := kind.Error() + ": "; len(msg) > len(p) && msg[:len(p)] == p {
				return msg[len(p):]
			}
			return msg
		}
	}
	return "The controller could not finish this: try again, and tell an admin if it persists."
}

// The browser sign-in sessions.

// browserSession is one browser's progress through the pages.
type browserSession struct {
	// Set at creation, never changed.
	id        string // random; binds identity's FirstFactor to this browser
	csrf      string
	expiresAt time.Time

	mu       sync.Mutex            // guards the fields below; held through one request
	userCode string                // the code entered, XXXX-XXXX
	first    *identity.FirstFactor // between the password and the code step
	proof    *identity.Proof       // after signing in, until the device is decided
	done     string                // the outcome page's message
	oidc     *oidcPending          // an upstream sign-in sent to its IdP, until its callback
	passkey  passkeyState          // the account page's sign-in and a passkey ceremony (passkeys.go)
}

// browserSessions holds the sign-in sessions by the SHA-256 of their
// cookie: a memory dump does not hand out live cookies.
type browserSessions struct {
	max int
	ttl time.Duration
	now func() time.Time

	mu        sync.Mutex
	m         map[[32]byte]*browserSession // guarded by mu
	byOIDC    map[[32]byte]*browserSession // by the OIDC binding cookie's SHA-256; guarded by mu
	lastSweep time.Time                    // guarded by mu
}

func newBrowserSessions(max int, ttl time.Duration, now func() time.Time) *browserSessions {
	return &browserSessions{max: max, ttl: ttl, now: now, m: map[[32]byte]*browserSession{}, byOIDC: map[[32]byte]*browserSession{}}
}

// errSessionsFull: more browsers are signing in than the cap allows.
var errSessionsFull = errors.New("too many sign-ins under way at this controller: try again in a minute")

// lookup returns the live session of cookie value v, or nil.
func (b *browserSessions) lookup(v string) *browserSession {
	key := sha256.Sum256([]byte(v))
	b.mu.Lock()
	defer b.mu.Unlock()
	sess := b.m[key]
	if sess != nil && !b.now().Before(sess.expiresAt) {
		delete(b.m, key)
		return nil
	}
	return sess
}

// drop forgets cookie value v's session (sign-out).
func (b *browserSessions) drop(v string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, sha256.Sum256([]byte(v)))
}

// create makes a session and returns its cookie value.
func (b *browserSessions) create() (string, *browserSession, error) {
	v := rand.Text() + rand.Text() // 256 bits
	sess := &browserSession{id: rand.Text() + rand.Text(), csrf: rand.Text() + rand.Text(), expiresAt: b.now().Add(b.ttl)}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if len(b.m) >= b.max || now.Sub(b.lastSweep) > time.Minute {
		b.lastSweep = now
		for _, m := range []map[[32]byte]*browserSession{b.m, b.byOIDC} {
			for k, s := range m {
				if !now.Before(s.expiresAt) {
					delete(m, k)
				}
			}
		}
	}
	if len(b.m) >= b.max {
		return "", nil, errSessionsFull
	}
	b.m[sha256.Sum256([]byte(v))] = sess
	return v, sess, nil
}

// cookieName is the sign-in session's cookie: __Host- over TLS (the
// browser then insists on Secure, Path=/ and no Domain).
func (s *Server) cookieName() string {
	if s.tls {
		return "__Host-gatehouse-signin"
	}
	return "gatehouse-signin"
}

// sessionFrom returns the live session r's cookie names, or nil.
func (s *Server) sessionFrom(r *http.Request) *browserSession {
	c, err := r.Cookie(s.cookieName())
	if err != nil || len(c.Value) > 128 {
		return nil
	}
	return s.signIn.browsers.lookup(c.Value)
}

// browserSession returns r's session, or a new one with its cookie set;
// locked. On failure it has answered.
func (s *Server) browserSession(w http.ResponseWriter, r *http.Request) (*browserSession, bool) {
	sess := s.sessionFrom(r)
	if sess == nil {
		v, created, err := s.signIn.browsers.create()
		if err != nil {
			w.Header().Set("Retry-After", "60")
			s.renderError(w, http.StatusServiceUnavailable, "Busy", err.Error())
			return nil, false
		}
		http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: v, Path: "/", MaxAge: int(s.signIn.browsers.ttl / time.Second),
			Secure: s.tls, HttpOnly: true, SameSite: http.SameSiteStrictMode})
		sess = created
	}
	sess.mu.Lock()
	return sess, true
}

// existingSession returns r's session, locked, or sends the browser to
// the start.
func (s *Server) existingSession(w http.ResponseWriter, r *http.Request) (*browserSession, bool) {
	sess := s.sessionFrom(r)
	if sess == nil {
		http.Redirect(w, r, api.PathDevicePage, http.StatusSeeOther)
		return nil, false
	}
	sess.mu.Lock()
	if sess.userCode == "" && sess.done == "" {
		sess.mu.Unlock()
		http.Redirect(w, r, api.PathDevicePage, http.StatusSeeOther)
		return nil, false
	}
	return sess, true
}

// pagePost reads a page's form (at most maxFormBytes) and checks its CSRF
// token against the session's; it returns the session locked. A POST
// without a session or with a wrong token is refused (403) unread.
func (s *Server) pagePost(w http.ResponseWriter, r *http.Request) (*browserSession, url.Values, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			s.renderError(w, http.StatusRequestEntityTooLarge, "Too large", fmt.Sprintf("A sign-in form takes at most %d bytes.", maxFormBytes))
			return nil, nil, false
		}
		s.renderError(w, http.StatusBadRequest, "Malformed form", "The form could not be read: start again.")
		return nil, nil, false
	}
	sess := s.sessionFrom(r)
	if sess == nil || !csrfMatches(sess.csrf, r.PostForm["csrf"]) {
		s.log.Warn("sign-in page: form refused: no sign-in session or wrong CSRF token", "remote", r.RemoteAddr, "path", r.URL.Path, "session", sess != nil)
		s.renderError(w, http.StatusForbidden, "Page expired", "This form expired or did not come from this sign-in page: start again.")
		return nil, nil, false
	}
	sess.mu.Lock()
	return sess, r.PostForm, true
}

// csrfMatches compares the form's one token with the session's in
// constant time.
func csrfMatches(want string, got []string) bool {
	return len(got) == 1 && subtle.ConstantTimeCompare([]byte(want), []byte(got[0])) == 1
}
