package httpapi

import (
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller"
)

// Sign-in over HTTP (docs/identity.md "Wiring"): the two OAuth endpoints
// of the device authorization grant (RFC 8628) here, the browser's pages
// in pages.go. Both call the core's DeviceFlow and identity room; the
// codes live in the DeviceFlow this server owns.

// maxFormBytes caps a sign-in form (OAuth endpoints and pages alike).
const maxFormBytes = 4 << 10

// SignInConfig sets sign-in up; zero fields take the defaults.
type SignInConfig struct {
	// DeviceFlow sets the device flow's poll interval, code lifetime and
	// cap on codes held.
	DeviceFlow controller.DeviceFlowConfig
	// DeviceAuth, Token and Pages are per-source token buckets for POST
	// /oauth/device_authorization, POST /oauth/token and the sign-in
	// pages (/device, /login, their steps).
	DeviceAuth Rate
	Token      Rate
	Pages      Rate
	// BrowserSessions caps the browser sign-in sessions held in memory.
	BrowserSessions int
}

// DefaultSignInConfig: a few hundred agents behind one NAT may start and
// poll at once; one source cannot fill the code table or the pages.
func DefaultSignInConfig() SignInConfig {
	return SignInConfig{
		DeviceAuth:      Rate{Every: time.Second, Burst: 30},
		Token:           Rate{Every: 20 * time.Millisecond, Burst: 200},
		Pages:           Rate{Every: 200 * time.Millisecond, Burst: 60},
		BrowserSessions: 10000,
	}
}

func (c SignInConfig) withDefaults() (SignInConfig, error) {
	d := DefaultSignInConfig()
	for _, r := range []struct {
		name   string
		v, def *Rate
	}{{"device authorization", &c.DeviceAuth, &d.DeviceAuth}, {"token", &c.Token, &d.Token}, {"sign-in pages", &c.Pages, &d.Pages}} {
		if *r.v == (Rate{}) {
			*r.v = *r.def
		}
		if r.v.Every <= 0 || r.v.Burst <= 0 {
			return c, fmt.Errorf("%s rate limit %+v: both Every and Burst must be positive", r.name, *r.v)
		}
	}
	if c.BrowserSessions == 0 {
		c.BrowserSessions = d.BrowserSessions
	}
	if c.BrowserSessions < 0 {
		return c, fmt.Errorf("browser sessions %d: must be positive", c.BrowserSessions)
	}
	return c, c.DeviceFlow.Check()
}

// signIn is the server's sign-in state: the device flow's codes, the
// browsers' sign-in sessions, and the per-source limits.
type signIn struct {
	flow       *controller.DeviceFlow
	browsers   *browserSessions
	deviceAuth *sourceLimiter
	token      *sourceLimiter
	pages      *sourceLimiter
	proofs     *proofNonces // admin CLI sessions' proofs seen (adminproof.go)
}

// newSignIn makes the sign-in state for core.
func newSignIn(core *controller.Controller, cfg SignInConfig) (*signIn, error) {
	flow, err := core.NewDeviceFlow(cfg.DeviceFlow)
	if err != nil {
		return nil, err
	}
	return &signIn{
		flow:       flow,
		browsers:   newBrowserSessions(cfg.BrowserSessions, flow.Config().Lifetime, time.Now),
		deviceAuth: newSourceLimiter("device authorization requests", cfg.DeviceAuth, time.Now),
		token:      newSourceLimiter("token requests", cfg.Token, time.Now),
		pages:      newSourceLimiter("sign-in page requests", cfg.Pages, time.Now),
		proofs:     newProofNonces(maxProofNonces, time.Now),
	}, nil
}

// mountSignIn adds the sign-in endpoints and pages to mux.
func (s *Server) mountSignIn(mux *http.ServeMux) {
	mux.Handle("POST "+api.PathDeviceAuthorization, s.signIn.deviceAuth.wrap(s.log.Warn, http.HandlerFunc(s.handleDeviceAuthorization)))
	mux.Handle("POST "+api.PathToken, s.signIn.token.wrap(s.log.Warn, http.HandlerFunc(s.handleToken)))
	mux.Handle("POST "+api.PathAdminLogout, s.signIn.token.wrap(s.log.Warn, http.HandlerFunc(s.handleAdminLogout)))
	s.mountPages(mux)
}

// handleDeviceAuthorization starts a device flow (RFC 8628 §3.1).
func (s *Server) handleDeviceAuthorization(w http.ResponseWriter, r *http.Request) {
	form, err := oauthForm(w, r, "client_id", api.FieldDeviceID, api.FieldDeviceKey, api.FieldHostname)
	var codes controller.DeviceCodes
	if err == nil {
		codes, err = s.signIn.flow.Start(r.Context(), controller.DeviceAuthRequest{ClientID: form["client_id"],
			DeviceID: form[api.FieldDeviceID], DeviceKey: form[api.FieldDeviceKey], Hostname: form[api.FieldHostname]})
	}
	if err != nil {
		s.log.Warn("device authorization refused", "remote", r.RemoteAddr, "err", controller.Clip(err.Error()))
		s.writeOAuthError(w, err)
		return
	}
	base := s.publicBase(r)
	writeNoStoreJSON(w, http.StatusOK, api.DeviceAuthorization{
		DeviceCode:              codes.DeviceCode,
		UserCode:                codes.UserCode,
		VerificationURI:         base + api.PathDevicePage,
		VerificationURIComplete: base + api.PathDevicePage + "?user_code=" + codes.UserCode,
		ExpiresIn:               int(codes.ExpiresIn / time.Second),
		Interval:                int(math.Ceil(codes.Interval.Seconds())),
	})
}

// handleToken redeems a device code (RFC 8628 §3.4), or refreshes an
// admin CLI session with its key's proof (handleAdminRefresh). Agents'
// refresh tokens are not taken here: a refresh needs the device's proof,
// which the websocket carries.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	raw, err := readProofBody(w, r, maxFormBytes)
	var form map[string]string
	if err == nil {
		form, err = oauthForm(w, r, "grant_type", "client_id", "device_code", api.FieldRefreshToken)
	}
	var tok api.TokenResponse
	if err == nil {
		switch form["grant_type"] {
		case api.GrantTypeDeviceCode:
			tok, err = s.signIn.flow.Redeem(r.Context(), form["client_id"], form["device_code"])
		case api.GrantTypeRefreshToken:
			tok, err = s.handleAdminRefresh(r.Context(), r, raw, form)
		case "":
			err = &controller.FlowError{Code: api.OAuthInvalidRequest, Description: "grant_type missing: send grant_type=" + api.GrantTypeDeviceCode}
		default:
			err = &controller.FlowError{Code: api.OAuthUnsupportedGrantType, Description: fmt.Sprintf("grant_type %q is not served here: only %s (refresh on the agent's websocket)", controller.Clip(form["grant_type"]), api.GrantTypeDeviceCode)}
		}
	}
	if err != nil {
		if fe, ok := errors.AsType[*controller.FlowError](err); !ok || (fe.Code != api.OAuthAuthorizationPending && fe.Code != api.OAuthSlowDown) {
			s.log.Warn("token request refused", "remote", r.RemoteAddr, "err", controller.Clip(err.Error()))
		}
		s.writeOAuthError(w, err)
		return
	}
	s.log.Info("device flow: tokens issued", "user", tok.User, "device", tok.DeviceID, "remote", r.RemoteAddr)
	writeNoStoreJSON(w, http.StatusOK, tok)
}

// oauthForm reads a form-encoded OAuth request body (at most maxFormBytes)
// and returns the fields named, each at most once (RFC 6749 §3.2).
func oauthForm(w http.ResponseWriter, r *http.Request, fields ...string) (map[string]string, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, &controller.FlowError{Code: api.OAuthInvalidRequest, Description: "send the request as application/x-www-form-urlencoded"}
	}
	if err := r.ParseForm(); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, fmt.Errorf("%w: a sign-in form takes at most %d bytes", errTooLarge, maxFormBytes)
		}
		return nil, &controller.FlowError{Code: api.OAuthInvalidRequest, Description: "malformed form body: " + controller.Clip(err.Error())}
	}
	out := map[string]string{}
	for _, f := range fields {
		v := r.PostForm[f]
		if len(v) > 1 {
			return nil, &controller.FlowError{Code: api.OAuthInvalidRequest, Description: fmt.Sprintf("%s given %d times: send it once", f, len(v))}
		}
		if len(v) == 1 {
			out[f] = v[0]
		}
	}
	return out, nil
}

// writeOAuthError answers err as RFC 6749 §5.2 says: 400 with the code,
// 401 for a client refused, 413 for a body too large, 503 when full.
func (s *Server) writeOAuthError(w http.ResponseWriter, err error) {
	fe, ok := errors.AsType[*controller.FlowError](err)
	switch {
	case errors.Is(err, errTooLarge):
		writeNoStoreJSON(w, http.StatusRequestEntityTooLarge, api.OAuthError{Error: api.OAuthInvalidRequest, Description: err.Error()})
	case !ok:
		s.log.Error("sign-in failed on the controller's side", "err", err)
		writeNoStoreJSON(w, http.StatusInternalServerError, api.OAuthError{Error: "server_error", Description: "the controller could not finish this: try again, and tell an admin if it persists"})
	case fe.Code == api.OAuthInvalidClient:
		writeNoStoreJSON(w, http.StatusUnauthorized, api.OAuthError{Error: fe.Code, Description: fe.Description})
	case fe.Code == controller.OAuthTemporarilyUnavailable:
		w.Header().Set("Retry-After", "60")
		writeNoStoreJSON(w, http.StatusServiceUnavailable, api.OAuthError{Error: fe.Code, Description: fe.Description})
	default:
		writeNoStoreJSON(w, http.StatusBadRequest, api.OAuthError{Error: fe.Code, Description: fe.Description})
	}
}

// writeNoStoreJSON is writeJSON for answers carrying codes or tokens
// (RFC 6749 §5.1: no caching).
func writeNoStoreJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, status, v)
}

// publicBase is the base URL the person's browser reaches this server at:
// the request's own host, which the agent dialed.
func (s *Server) publicBase(r *http.Request) string {
	scheme := "http"
	if s.tls {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// sourceAddr is the client's address for identity's throttle.
func sourceAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// retryAfter writes whole seconds, rounded up, for a wait.
func retryAfter(d time.Duration) string { return strconv.Itoa(int(math.Ceil(d.Seconds()))) }
