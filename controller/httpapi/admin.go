package httpapi

import (
	"net/http"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller"
)

// mountAdmin serves the admin REST API: every endpoint behind withActor,
// each a call into the core.
func (s *Server) mountAdmin(mux *http.ServeMux) {
	c := s.core
	mountObjects(s, mux, api.PathUsers, c.Users)
	mountObjects(s, mux, api.PathGroups, c.Groups)
	mountObjects(s, mux, api.PathApps, c.Apps)
	mountObjects(s, mux, api.PathPostureProfiles, c.PostureProfiles)
	mountObjects(s, mux, api.PathPolicies, c.Policies)

	mux.Handle("PUT "+api.PathGroups+"/{name}/members/{user}", s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		_, err := c.Members.Add(r.Context(), who, r.PathValue("name"), r.PathValue("user"))
		return nil, err
	}))
	mux.Handle("DELETE "+api.PathGroups+"/{name}/members/{user}", s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		_, err := c.Members.Remove(r.Context(), who, r.PathValue("name"), r.PathValue("user"))
		return nil, err
	}))

	mux.Handle("POST "+api.PathEnrollmentTokens, s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		var req api.EnrollmentTokenRequest
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		t, _, err := c.Enrollment.CreateToken(r.Context(), who, req)
		return answer(t, err)
	}))
	mux.Handle("GET "+api.PathEnrollmentTokens, s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		return c.Enrollment.ListTokens(r.Context(), who)
	}))
	mux.Handle("DELETE "+api.PathEnrollmentTokens+"/{id}", s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		_, err := c.Enrollment.RevokeToken(r.Context(), who, r.PathValue("id"))
		return nil, err
	}))
	mux.Handle("POST "+api.PathAdminTokenRotate, s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		tok, _, err := c.Auth.Rotate(r.Context(), who)
		if err == nil {
			s.log.Info("bootstrap token rotated", "remote", r.RemoteAddr)
		}
		return answer(tok, err)
	}))

	mux.Handle("GET "+api.PathDevices, s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		return c.Devices.List(r.Context(), who)
	}))
	mux.Handle("DELETE "+api.PathDevices+"/{id}", s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		_, err := c.Devices.Delete(r.Context(), who, r.PathValue("id"))
		return nil, err
	}))
	mux.Handle("GET "+api.PathGrants, s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		return c.Devices.Grants(r.Context(), who)
	}))

	s.mountAdmins(mux)
	s.mountPolicyFile(mux)
	s.mountExceptions(mux)
	s.mountRequests(mux)

	mux.Handle("GET "+api.PathGatewayPeers, s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		return c.Gateways.Peers(r.Context(), who)
	}))
	mux.Handle("POST "+api.PathGatewayTokens, s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		var req api.GatewayTokenRequest
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		t, _, err := c.Gateways.CreateToken(r.Context(), who, req)
		return answer(t, err)
	}))
	mux.Handle("GET "+api.PathGatewayTokens, s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		return c.Gateways.ListTokens(r.Context(), who)
	}))
	mux.Handle("GET "+api.PathGateways, s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		return c.Gateways.List(r.Context(), who)
	}))
	mux.Handle("DELETE "+api.PathGateways+"/{name}", s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		_, err := c.Gateways.Delete(r.Context(), who, r.PathValue("name"))
		return nil, err
	}))
}

// mountObjects serves one kind of named admin object: list, get,
// create, update (when it has one) and delete.
func mountObjects[T any](s *Server, mux *http.ServeMux, path string, o *controller.Objects[T]) {
	mux.Handle("GET "+path, s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		return o.List(r.Context(), who)
	}))
	mux.Handle("GET "+path+"/{name}", s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		return o.Get(r.Context(), who, r.PathValue("name"))
	}))
	mux.Handle("POST "+path, s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		var v T
		if err := decodeBody(r, &v); err != nil {
			return nil, err
		}
		got, _, err := o.Create(r.Context(), who, v)
		return answer(got, err)
	}))
	if o.Updatable() {
		mux.Handle("PUT "+path+"/{name}", s.admin(func(r *http.Request, who controller.Actor) (any, error) {
			var v T
			if err := decodeBody(r, &v); err != nil {
				return nil, err
			}
			if o.NameOf(v) != r.PathValue("name") {
				return nil, controller.Invalid("name in body %q does not match the path %q", o.NameOf(v), r.PathValue("name"))
			}
			got, _, err := o.Update(r.Context(), who, v)
			return answer(got, err)
		}))
	}
	mux.Handle("DELETE "+path+"/{name}", s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		_, err := o.Delete(r.Context(), who, r.PathValue("name"))
		return nil, err
	}))
}

// answer is v, or nothing when err says the call failed.
func answer[T any](v T, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return v, nil
}
