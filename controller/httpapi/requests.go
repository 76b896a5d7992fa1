package httpapi

import (
	"context"
	"net/http"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller"
)

// decideRequest is Requests.Approve, Deny or Revoke.
type decideRequest func(ctx context.Context, who controller.Actor, id string, in api.AccessDecisionInput) (api.AccessRequest, controller.Change, error)

// mountRequests serves just-in-time access requests to approvers: list
// (?state=pending), approve, deny, and revoke (end approved access
// early). The core decides who may.
func (s *Server) mountRequests(mux *http.ServeMux) {
	rq := s.core.Requests
	mux.Handle("GET "+api.PathAccessRequests, s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		return rq.List(r.Context(), who, r.URL.Query().Get("state"))
	}))
	decide := func(op decideRequest) http.Handler {
		return s.admin(func(r *http.Request, who controller.Actor) (any, error) {
			var in api.AccessDecisionInput
			if err := decodeBody(r, &in); err != nil {
				return nil, err
			}
			req, _, err := op(r.Context(), who, r.PathValue("id"), in)
			return answer(req, err)
		})
	}
	mux.Handle("POST "+api.PathAccessRequests+"/{id}/approve", decide(rq.Approve))
	mux.Handle("POST "+api.PathAccessRequests+"/{id}/deny", decide(rq.Deny))
	mux.Handle("POST "+api.PathAccessRequests+"/{id}/revoke", decide(rq.Revoke))
}
