package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller"
)

// policyFileTimeout bounds parsing, checking and testing one policy
// file (and applying it): a file is at most api.MaxPolicyFileBytes and
// its tests' CEL has a cost limit, so this is far more than it needs.
const policyFileTimeout = 20 * time.Second

// mountPolicyFile serves policy as code: export (read), plan (diff and
// tests, read) and apply (write). The admin body cap (1 MiB) holds a
// file of api.MaxPolicyFileBytes even with every byte escaped twice.
func (s *Server) mountPolicyFile(mux *http.ServeMux) {
	c := s.core
	mux.Handle("GET "+api.PathPolicyExport, s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		return answer(c.PolicyFile.Export(r.Context(), who))
	}))
	mux.Handle("POST "+api.PathPolicyPlan, s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		var req api.PolicyFileRequest
		if err := decodePolicyFile(r, &req); err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(r.Context(), policyFileTimeout)
		defer cancel()
		return answer(c.PolicyFile.Plan(ctx, who, req))
	}))
	mux.Handle("POST "+api.PathPolicyApply, s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		var req api.PolicyFileRequest
		if err := decodePolicyFile(r, &req); err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(r.Context(), policyFileTimeout)
		defer cancel()
		plan, _, err := c.PolicyFile.Apply(ctx, who, req)
		return answer(plan, err)
	}))
}

// decodePolicyFile decodes a PolicyFileRequest and refuses a file over
// api.MaxPolicyFileBytes before anything parses it.
func decodePolicyFile(r *http.Request, req *api.PolicyFileRequest) error {
	if err := decodeBody(r, req); err != nil {
		return err
	}
	if len(req.Source) > api.MaxPolicyFileBytes {
		return controller.Invalid("the policy file is %d bytes; at most %d are taken", len(req.Source), api.MaxPolicyFileBytes)
	}
	return nil
}
