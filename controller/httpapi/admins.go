package httpapi

import (
	"net/http"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller"
)

// mountAdmins serves the identity room's admin endpoints (api/admins.go):
// bootstrap, roles, API tokens, sessions, users' sign-in state, device
// approval and settings. Each decodes, calls the core as the request's
// actor, and answers; the core checks the role.
func (s *Server) mountAdmins(mux *http.ServeMux) {
	c := s.core
	a := c.Admins
	mux.Handle("POST "+api.PathBootstrap, s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		var req api.BootstrapRequest
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		res, _, err := c.Auth.Bootstrap(r.Context(), who, req)
		if err == nil {
			s.log.Info("first owner created; the bootstrap token is spent", "user", res.User, "remote", r.RemoteAddr)
		}
		return answer(res, err)
	}))
	mux.Handle("GET "+api.PathAdmins, s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		return a.List(r.Context(), who)
	}))

	user := func(verb, action string, h call) {
		mux.Handle(verb+" "+api.PathUsers+"/{name}/"+action, s.admin(h))
	}
	user("PUT", api.UserPassword, func(r *http.Request, who controller.Actor) (any, error) {
		var req api.PasswordRequest
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		return none(a.SetPassword(r.Context(), who, r.PathValue("name"), req.Password))
	})
	user("POST", api.UserDisable, func(r *http.Request, who controller.Actor) (any, error) {
		return none(a.Disable(r.Context(), who, r.PathValue("name")))
	})
	user("POST", api.UserEnable, func(r *http.Request, who controller.Actor) (any, error) {
		return none(a.Enable(r.Context(), who, r.PathValue("name")))
	})
	user("POST", api.UserUnlock, func(r *http.Request, who controller.Actor) (any, error) {
		return none(a.Unlock(r.Context(), who, r.PathValue("name")))
	})
	user("PUT", api.UserRole, func(r *http.Request, who controller.Actor) (any, error) {
		var req api.RoleRequest
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		return none(a.SetRole(r.Context(), who, r.PathValue("name"), req.Role))
	})
	user("POST", api.UserTOTP, func(r *http.Request, who controller.Actor) (any, error) {
		e, _, err := a.BeginTOTP(r.Context(), who, r.PathValue("name"))
		return answer(e, err)
	})
	user("DELETE", api.UserTOTP, func(r *http.Request, who controller.Actor) (any, error) {
		return none(a.RemoveTOTP(r.Context(), who, r.PathValue("name")))
	})
	user("POST", api.UserTOTPConfirm, func(r *http.Request, who controller.Actor) (any, error) {
		var req api.TOTPConfirmRequest
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		return none(a.ConfirmTOTP(r.Context(), who, r.PathValue("name"), req.Code))
	})

	device := func(verb, action string, h call) {
		mux.Handle(verb+" "+api.PathDevices+"/{id}/"+action, s.admin(h))
	}
	device("POST", api.DeviceApprove, func(r *http.Request, who controller.Actor) (any, error) {
		return none(c.Devices.Approve(r.Context(), who, r.PathValue("id")))
	})
	device("POST", api.DeviceBlock, func(r *http.Request, who controller.Actor) (any, error) {
		return none(c.Devices.Block(r.Context(), who, r.PathValue("id")))
	})
	device("PUT", api.DeviceLabel, func(r *http.Request, who controller.Actor) (any, error) {
		var req api.DeviceLabelRequest
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		return none(c.Devices.Label(r.Context(), who, r.PathValue("id"), req))
	})

	mux.Handle("GET "+api.PathSessions, s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		if r.URL.Query().Has(api.QueryUser) {
			return a.Sessions(r.Context(), who, r.URL.Query().Get(api.QueryUser))
		}
		return a.AllSessions(r.Context(), who)
	}))
	mux.Handle("DELETE "+api.PathSessions+"/{id}", s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		return none(a.RevokeSession(r.Context(), who, r.PathValue("id")))
	}))
	mux.Handle("DELETE "+api.PathSessions, s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		if !r.URL.Query().Has(api.QueryUser) {
			return nil, controller.Invalid("name whose sessions to end: DELETE %s?%s=NAME, or DELETE %s/ID for one", api.PathSessions, api.QueryUser, api.PathSessions)
		}
		n, _, err := a.RevokeUserSessions(r.Context(), who, r.URL.Query().Get(api.QueryUser))
		return answer(api.RevokedSessions{Revoked: n}, err)
	}))

	mux.Handle("POST "+api.PathAPITokens, s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		var req api.APITokenRequest
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		t, _, err := a.CreateAPIToken(r.Context(), who, req)
		return answer(t, err)
	}))
	mux.Handle("GET "+api.PathAPITokens, s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		return a.ListAPITokens(r.Context(), who)
	}))
	mux.Handle("DELETE "+api.PathAPITokens+"/{id}", s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		return none(a.RevokeAPIToken(r.Context(), who, r.PathValue("id")))
	}))

	mux.Handle("GET "+api.PathSettings, s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		return a.Settings(r.Context(), who)
	}))
	mux.Handle("PUT "+api.PathSettings, s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		var req api.Settings
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		return none(a.SetSettings(r.Context(), who, req))
	}))
}

// none is an answer without a body (204) once the call succeeded.
func none(_ controller.Change, err error) (any, error) { return nil, err }
