package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
)

// Admin CLI sessions (docs/identity.md "Admins"): a signed-in person's
// access token is taken by the admin API only with a proof, signed by
// the key the session is bound to, over this very request (api.AdminProof):
// fresh (api.AdminProofWindow either way), used once (proofNonces), and
// over the body and the token sent. The same proof guards the session's
// refresh and logout.

// maxProofNonces caps the nonces remembered: a minute of admin requests.
const maxProofNonces = 100000

// errProofsFull: more proofs in one window than the cache holds; fail
// closed (a nonce forgotten early could be replayed).
var errProofsFull = errors.New("too many admin requests in the last minute: try again in a minute")

// proofNonces remembers the nonces of accepted proofs until their
// proofs go stale, so each is accepted once.
type proofNonces struct {
	max int
	now func() time.Time

	mu   sync.Mutex
	seen map[string]time.Time // nonce → when its proof goes stale; guarded by mu
}

func newProofNonces(max int, now func() time.Time) *proofNonces {
	return &proofNonces{max: max, now: now, seen: map[string]time.Time{}}
}

// spend records nonce, good until until; false when it was seen already.
// A full cache first forgets the stale nonces, then refuses
// (errProofsFull).
func (n *proofNonces) spend(nonce string, until time.Time) (bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	if t, ok := n.seen[nonce]; ok && now.Before(t) {
		return false, nil
	}
	if len(n.seen) >= n.max {
		for k, t := range n.seen {
			if !now.Before(t) {
				delete(n.seen, k)
			}
		}
	}
	if len(n.seen) >= n.max {
		return false, errProofsFull
	}
	n.seen[nonce] = until
	return true, nil
}

// proofError is an admin proof refused: 401 with the fix.
func proofError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format+": sign in again if it persists (gatehouse admin login)", append([]any{controller.ErrUnauthenticated}, args...)...)
}

// readProofBody reads r's body (at most limit bytes) for the proof's hash
// and puts it back for the handler.
func readProofBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return nil, fmt.Errorf("%w: the body takes at most %d bytes", errTooLarge, limit)
	} else if err != nil {
		return nil, fmt.Errorf("%w: read the body: %v", controller.ErrInvalid, err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}

// checkProof verifies r's proof over body and token: one header, well
// formed, fresh, signed. The binding ID of its key (api.AdminBinding) is
// what the token's session must be bound to (identity checks that).
func (s *Server) checkProof(r *http.Request, body []byte, token string) (api.AdminProof, error) {
	h := r.Header.Values(api.HeaderAdminProof)
	if len(h) != 1 {
		return api.AdminProof{}, proofError("a sign-in session's token needs one %s header signed by the admin CLI's key", api.HeaderAdminProof)
	}
	p, err := api.ParseAdminProof(h[0])
	if err != nil {
		return api.AdminProof{}, proofError("%v", err)
	}
	now := s.signIn.proofs.now()
	if d := now.Sub(p.Time); d > api.AdminProofWindow || d < -api.AdminProofWindow {
		return api.AdminProof{}, proofError("the proof was made %s from the controller's time, more than %s: check this computer's clock", d.Round(time.Second), api.AdminProofWindow)
	}
	if err := p.Verify(r.Method, r.RequestURI, body, token); err != nil {
		return api.AdminProof{}, proofError("%v", err)
	}
	return p, nil
}

// spendProof accepts p's nonce once. Only proofs of a live session's own
// key get here: anyone can sign with a key of their own, and such proofs
// must not fill the cache.
func (s *Server) spendProof(p api.AdminProof) error {
	fresh, err := s.signIn.proofs.spend(p.Nonce, p.Time.Add(api.AdminProofWindow))
	if err != nil {
		return fmt.Errorf("%w: %v", controller.ErrTokenRefused, err)
	}
	if !fresh {
		return proofError("this proof was used before (a replayed request)")
	}
	return nil
}

// adminSession authenticates a signed-in admin's request: the proof,
// then the session (bound to the proof's key: another key's proof is a
// stolen token, and ends the session), then its role and second factor.
func (s *Server) adminSession(w http.ResponseWriter, r *http.Request, token string) (controller.Actor, error) {
	body, err := readProofBody(w, r, maxAdminBodyBytes)
	if err != nil {
		return controller.Actor{}, err
	}
	proof, err := s.checkProof(r, body, token)
	if err != nil {
		return controller.Actor{}, err
	}
	sess, err := s.core.Identity.Authenticate(r.Context(), token, api.AdminBinding(proof.Key))
	if err != nil {
		return controller.Actor{}, sessionError(err)
	}
	if err := s.spendProof(proof); err != nil {
		return controller.Actor{}, err
	}
	p, err := s.core.Identity.AdminPrincipal(r.Context(), sess)
	switch {
	case errors.Is(err, identity.ErrMFARequired), errors.Is(err, identity.ErrMFATooOld):
		return controller.Actor{}, fmt.Errorf("%w: %v: sign in with a second factor: gatehouse admin login", controller.ErrForbidden, err)
	case err != nil:
		return controller.Actor{}, err
	}
	return controller.ActorOf(p), nil
}

// sessionError maps identity's refusal of a session token to 401 with
// the fix; other errors are the controller's.
func sessionError(err error) error {
	for _, e := range []error{identity.ErrTokenInvalid, identity.ErrSessionExpired, identity.ErrSessionRevoked,
		identity.ErrWrongDevice, identity.ErrRefreshReused, identity.ErrUserDisabled, identity.ErrUpstreamRefused} {
		if errors.Is(err, e) {
			return fmt.Errorf("%w: %v (gatehouse admin login)", controller.ErrUnauthenticated, err)
		}
	}
	return err
}

// handleAdminRefresh is grant_type=refresh_token at the token endpoint:
// only for client gatehouse-admin, only with the proof (over the form
// body and the refresh token). No nonce is spent: the refresh token
// rotates, so a replayed refresh presents a spent token, which ends the
// session (reuse detection).
func (s *Server) handleAdminRefresh(ctx context.Context, r *http.Request, raw []byte, form map[string]string) (api.TokenResponse, error) {
	if form["client_id"] != api.ClientAdmin {
		return api.TokenResponse{}, &controller.FlowError{Code: api.OAuthUnsupportedGrantType,
			Description: "refresh_token is served only to " + api.ClientAdmin + ": agents refresh on their websocket"}
	}
	refresh := form[api.FieldRefreshToken]
	proof, err := s.checkProof(r, raw, refresh)
	if err != nil {
		return api.TokenResponse{}, &controller.FlowError{Code: api.OAuthInvalidProof, Description: err.Error()}
	}
	binding := api.AdminBinding(proof.Key)
	sess, tok, err := s.core.Identity.Refresh(ctx, refresh, binding)
	if err != nil {
		if errors.Is(sessionError(err), controller.ErrUnauthenticated) || errors.Is(err, identity.ErrNotFound) {
			return api.TokenResponse{}, &controller.FlowError{Code: api.OAuthInvalidGrant, Description: err.Error() + " (gatehouse admin login)"}
		}
		return api.TokenResponse{}, err
	}
	return api.TokenResponse{AccessToken: tok.Access, RefreshToken: tok.Refresh, TokenType: "Bearer",
		ExpiresIn: int(time.Until(tok.AccessExpiresAt).Seconds()), DeviceID: binding, User: sess.User}, nil
}

// handleAdminLogout ends the admin session of the request's token (an
// expired access token may still log out), with the proof. No nonce is
// spent: a replayed logout finds the session ended already.
func (s *Server) handleAdminLogout(w http.ResponseWriter, r *http.Request) {
	err := func() error {
		token, ok := bearer(r)
		if !ok {
			return fmt.Errorf("%w: send the session's access token as `Authorization: Bearer gha_…`", controller.ErrUnauthenticated)
		}
		body, err := readProofBody(w, r, maxFormBytes)
		if err != nil {
			return err
		}
		proof, err := s.checkProof(r, body, token)
		if err != nil {
			return err
		}
		return sessionError(s.core.Identity.Logout(r.Context(), token, api.AdminBinding(proof.Key)))
	}()
	if err != nil {
		s.log.Warn("admin logout refused", "remote", r.RemoteAddr, "err", err)
		writeError(w, statusOf(err), err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// held is how many nonces are remembered.
func (n *proofNonces) held() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.seen)
}
