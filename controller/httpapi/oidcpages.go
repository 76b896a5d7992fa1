package httpapi

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-ztna/gatehouse/controller"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
	"github.com/gatehouse-ztna/gatehouse/controller/identity/oidc"
)

// Sign-in through an upstream OIDC IdP on the pages: the login page's
// "Sign in with NAME" button posts to pathOIDCStart, which begins the
// sign-in (oidc.Provider.Begin) and sends the browser to the IdP; the IdP
// sends it back to oidc.CallbackPath, which finishes it (Callback, then
// identity.SignInUpstream) and shows the device to confirm, as a password
// sign-in does.
//
// Login CSRF: the callback is accepted only from the browser whose
// sign-in session began that state. The browser session's cookie is
// SameSite=Strict, which browsers do not send on the IdP's cross-site
// redirect back; so Begin also sets a SameSite=Lax binding cookie (sent on
// that top-level GET) naming the session, and the state must equal the
// one the session holds. Otherwise: 403, and nothing changes (the state
// stays pending for its own browser).

// pathOIDCStart is where the login page's IdP buttons post.
const pathOIDCStart = "/login/oidc"

// oidcPending is a sign-in session's upstream sign-in sent to its IdP.
type oidcPending struct {
	state  string   // oidc.Start.State
	issuer string   // which IdP
	key    [32]byte // the binding cookie's SHA-256, its key in browserSessions.byOIDC
}

// idpButton is one IdP on the login page.
type idpButton struct {
	Index     int
	Name      string
	Available bool
	Problem   string // why not, when not Available
}

// idpButtons are the configured IdPs, as the login page shows them.
func (s *Server) idpButtons() []idpButton {
	var out []idpButton
	for i, p := range s.core.Identity.Upstreams() {
		st := p.Status()
		out = append(out, idpButton{Index: i, Name: st.Name, Available: st.Available, Problem: controller.Clip(st.Problem)})
	}
	return out
}

// renderLogin renders the login page; its CSP lets its forms lead to the
// IdPs (browsers apply form-action to the redirect after a form).
func (s *Server) renderLogin(w http.ResponseWriter, status int, d pageData) {
	csp := pageCSP
	if ups := s.core.Identity.Upstreams(); len(ups) > 0 {
		origins := []string{"'self'"}
		for _, p := range ups {
			origins = append(origins, p.Origins()...)
		}
		csp = strings.Replace(pageCSP, "form-action 'self'", "form-action "+strings.Join(origins, " "), 1)
	}
	w.Header().Set("Content-Security-Policy", csp)
	s.render(w, status, "login", d)
}

// oidcStart begins a sign-in with the IdP the button names and sends the
// browser there.
func (s *Server) oidcStart(w http.ResponseWriter, r *http.Request, sess *browserSession, form url.Values) {
	if !s.needCode(w, sess) {
		return
	}
	ups := s.core.Identity.Upstreams()
	i, err := strconv.Atoi(form.Get("idp"))
	if err != nil || i < 0 || i >= len(ups) {
		s.renderError(w, http.StatusBadRequest, "Choose how to sign in", "Choose one of the sign-in options on the sign-in page.")
		return
	}
	p := ups[i]
	st, err := p.Begin(r.Context(), "")
	if err != nil {
		s.log.Warn("sign-in with identity provider unavailable", "idp", p.Name(), "err", err)
		data := s.loginData(sess)
		data.Error = fmt.Sprintf("Sign-in with %s is unavailable: %s", p.Name(), controller.Clip(err.Error()))
		s.renderLogin(w, http.StatusServiceUnavailable, data)
		return
	}
	v := rand.Text() + rand.Text() // 256 bits
	key := sha256.Sum256([]byte(v))
	s.signIn.browsers.bindOIDC(sess, key)
	sess.oidc = &oidcPending{state: st.State, issuer: p.Issuer(), key: key}
	sess.proof, sess.first = nil, nil
	http.SetCookie(w, &http.Cookie{Name: s.oidcCookieName(), Value: v, Path: "/", MaxAge: int(oidc.PendingTTL / time.Second),
		Secure: s.tls, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, st.URL, http.StatusSeeOther)
}

// oidcCallback finishes an upstream sign-in begun in this browser, then
// shows the device to confirm.
func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sess := s.oidcSession(r)
	if sess == nil {
		s.refuseCallback(w, r, "no sign-in session bound to this browser")
		return
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	pend := sess.oidc
	if pend == nil || len(q["state"]) != 1 || subtle.ConstantTimeCompare([]byte(pend.state), []byte(q.Get("state"))) != 1 {
		s.refuseCallback(w, r, "state does not belong to this browser's sign-in")
		return
	}
	// This browser's own callback: the state is spent here and at the IdP's provider.
	state := q.Get("state")
	sess.oidc = nil
	s.signIn.browsers.unbindOIDC(pend.key)
	http.SetCookie(w, &http.Cookie{Name: s.oidcCookieName(), Value: "", Path: "/", MaxAge: -1, Secure: s.tls, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	p := s.upstreamByIssuer(pend.issuer)
	if p == nil {
		s.renderError(w, http.StatusBadRequest, "Sign-in option gone", "This identity provider is no longer configured here: start again.")
		return
	}
	if e := q.Get("error"); e != "" {
		p.Callback(r.Context(), state, "") // spends the pending sign-in
		code := oauthErrorCode(e)
		s.log.Warn("identity provider did not sign the user in", "idp", p.Name(), "error", code,
			"description", controller.Clip(q.Get("error_description")), "source", sourceAddr(r))
		status := http.StatusBadRequest
		if code == "access_denied" {
			status = http.StatusForbidden
		}
		s.renderError(w, status, "Not signed in", fmt.Sprintf("%s did not sign you in (%s). Start again, or ask your admin whether you should have access.", p.Name(), code))
		return
	}
	if !s.needCode(w, sess) {
		p.Callback(r.Context(), state, "") // nothing to sign in for: spend it
		return
	}
	v, err := p.Callback(r.Context(), state, q.Get("code"))
	var proof identity.Proof
	if err == nil {
		proof, err = s.core.Identity.SignInUpstream(r.Context(), v, sourceAddr(r))
	}
	if err != nil {
		s.upstreamFailed(w, r, p, err)
		return
	}
	s.log.Info("signed in", "user", proof.User(), "methods", proof.Methods(), "source", sourceAddr(r), "idp", p.Name())
	sess.proof, sess.first = &proof, nil
	// Shown here rather than redirected to: browsers would not send the
	// SameSite=Strict session cookie after the IdP's cross-site redirect.
	s.confirmPage(w, r, sess)
}

// refuseCallback answers a callback that is not this browser's (login
// CSRF, or a stale or replayed link): 403, nothing changed.
func (s *Server) refuseCallback(w http.ResponseWriter, r *http.Request, why string) {
	s.log.Warn("identity provider callback refused: "+why, "remote", r.RemoteAddr)
	s.renderError(w, http.StatusForbidden, "Sign-in not started in this browser",
		"This sign-in was started in another browser, has expired, or was already used. Start again on this computer from the code your device shows.")
}

// upstreamFailed shows why an upstream sign-in failed, with what to do.
func (s *Server) upstreamFailed(w http.ResponseWriter, r *http.Request, p *oidc.Provider, err error) {
	s.log.Warn("sign-in through identity provider failed", "idp", p.Name(), "source", sourceAddr(r), "err", err)
	msg := controller.Clip(err.Error())
	switch {
	case errors.Is(err, oidc.ErrBadState):
		s.renderError(w, http.StatusBadRequest, "Sign-in expired", "This sign-in took too long or was already finished: start again.")
	case errors.Is(err, oidc.ErrDomainNotAllowed), errors.Is(err, oidc.ErrEmailNotVerified):
		s.renderError(w, http.StatusForbidden, "Account not allowed", msg)
	case errors.Is(err, oidc.ErrNoUsername), errors.Is(err, oidc.ErrRefused):
		s.renderError(w, http.StatusForbidden, "Not signed in", msg)
	case errors.Is(err, oidc.ErrUnavailable):
		s.renderError(w, http.StatusServiceUnavailable, "Identity provider unavailable",
			fmt.Sprintf("%s could not be reached: try again in a minute, and tell an admin if it persists.", p.Name()))
	case errors.Is(err, identity.ErrUserDisabled):
		s.renderError(w, http.StatusForbidden, "Account disabled", "Your Gatehouse account is disabled: ask an admin to enable it.")
	case errors.Is(err, identity.ErrNameTaken):
		s.renderError(w, http.StatusConflict, "Account not linked",
			fmt.Sprintf("A Gatehouse account of your name exists and is not linked to %s: ask an admin to link it, or sign in with its password.", p.Name()))
	default:
		s.log.Error("sign-in through identity provider failed on the controller's side", "idp", p.Name(), "err", err)
		s.renderError(w, http.StatusInternalServerError, "Not signed in", "The controller could not finish this sign-in: try again, and tell an admin if it persists.")
	}
}

// upstreamByIssuer is the configured IdP of issuer, or nil.
func (s *Server) upstreamByIssuer(issuer string) *oidc.Provider {
	for _, p := range s.core.Identity.Upstreams() {
		if p.Issuer() == issuer {
			return p
		}
	}
	return nil
}

// oauthCodeRE is what an OAuth error code may look like (RFC 6749 §4.1.2.1).
var oauthCodeRE = regexp.MustCompile(`^[a-z_]{1,64}$`)

// oauthErrorCode is the IdP's error code when it looks like one: the
// page never repeats free text a link could carry.
func oauthErrorCode(e string) string {
	if oauthCodeRE.MatchString(e) {
		return e
	}
	return "error"
}

// oidcCookieName is the OIDC binding cookie: SameSite=Lax, so the IdP's
// redirect back carries it.
func (s *Server) oidcCookieName() string {
	if s.tls {
		return "__Host-gatehouse-oidc"
	}
	return "gatehouse-oidc"
}

// oidcSession is the live sign-in session r's binding cookie names, or nil.
func (s *Server) oidcSession(r *http.Request) *browserSession {
	c, err := r.Cookie(s.oidcCookieName())
	if err != nil || len(c.Value) > 128 {
		return nil
	}
	return s.signIn.browsers.lookupOIDC(sha256.Sum256([]byte(c.Value)))
}

// bindOIDC makes key name sess at the callback, replacing the binding of
// its previous upstream sign-in. The caller holds sess.mu.
func (b *browserSessions) bindOIDC(sess *browserSession, key [32]byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if sess.oidc != nil {
		delete(b.byOIDC, sess.oidc.key)
	}
	b.byOIDC[key] = sess
}

// unbindOIDC drops a binding.
func (b *browserSessions) unbindOIDC(key [32]byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.byOIDC, key)
}

// lookupOIDC is the live session bound to key, or nil.
func (b *browserSessions) lookupOIDC(key [32]byte) *browserSession {
	b.mu.Lock()
	defer b.mu.Unlock()
	sess := b.byOIDC[key]
	if sess != nil && !b.now().Before(sess.expiresAt) {
		delete(b.byOIDC, key)
		return nil
	}
	return sess
}
