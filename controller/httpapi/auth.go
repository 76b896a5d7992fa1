package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller"
)

// Who a request comes from. Every endpoint but the doors open to anyone
// (enrollment, the websockets, which prove themselves their own way) goes
// through withActor: the one place a request becomes a controller.Actor.
// The bearer token is the bootstrap token (good only for POST
// /api/v1/bootstrap), an admin API token (ghk_…, with its role), or a
// signed-in admin's access token (gha_…) with the proof of the admin
// CLI's key it is bound to (adminproof.go); an agent's session token is
// refused, being bound to its device (docs/identity.md "Admins"). The
// core decides what each actor may do.

type actorKey struct{}

// actorFrom returns the actor withActor found for the request of ctx.
func actorFrom(ctx context.Context) (controller.Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(controller.Actor)
	return a, ok
}

// bearer is r's bearer token.
func bearer(r *http.Request) (string, bool) {
	return strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
}

// authenticate finds who r comes from, or controller.ErrUnauthenticated.
// A request with a proof is a signed-in admin's (adminSession); without,
// the token must be the bootstrap token or an API token.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (controller.Actor, error) {
	tok, ok := bearer(r)
	if !ok {
		return controller.Actor{}, fmt.Errorf("%w: missing or wrong admin token: sign in (gatehouse admin login) or pass an API token as `Authorization: Bearer ghk_…` (gatehouse admin --token)", controller.ErrUnauthenticated)
	}
	if len(r.Header.Values(api.HeaderAdminProof)) > 0 {
		return s.adminSession(w, r, tok)
	}
	return s.core.Auth.Authenticate(r.Context(), tok)
}

// withActor refuses a request that proves no one (401) and serves the
// rest with their actor in the context (actorFrom).
func (s *Server) withActor(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, err := s.authenticate(w, r)
		if err != nil {
			status := statusOf(err)
			s.log.Warn("admin request refused: bad token or proof", "method", controller.Clip(r.Method), "path", controller.Clip(r.URL.Path), "remote", r.RemoteAddr, "err", err)
			if status >= 500 {
				writeError(w, status, "could not check the admin token; see the controller's log")
				return
			}
			writeError(w, status, err.Error())
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, who)))
	})
}

// call is an admin endpoint: it decodes r, calls the core as who, and
// returns the answer (nil: 204) or the core's error.
type call func(r *http.Request, who controller.Actor) (any, error)

// admin serves h behind withActor, with the admin body cap and JSON
// answers; the core's typed errors become their statuses.
func (s *Server) admin(h call) http.Handler {
	return s.withActor(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, _ := actorFrom(r.Context())
		r.Body = http.MaxBytesReader(w, r.Body, maxAdminBodyBytes)
		v, err := h(r, who)
		if err != nil {
			status := statusOf(err)
			if status >= 500 {
				s.log.Error("admin request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			} else {
				s.log.Info("admin request rejected", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			writeError(w, status, err.Error())
			return
		}
		if v == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}))
}
