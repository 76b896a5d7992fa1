package httpapi

import (
	"net/http"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller"
)

// The enrollment doors, open to anyone: a single-use token in the body is
// the credential. Each sits behind its per-source limit (routes) and takes
// at most maxEnrollBodyBytes.

// handleEnroll turns a single-use token into a device bound to its user.
func (s *Server) handleEnroll(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxEnrollBodyBytes)
	var req api.EnrollRequest
	err := decodeBody(r, &req)
	var dev api.Device
	if err == nil {
		dev, _, err = s.core.Enrollment.Enroll(r.Context(), req)
	}
	if err != nil {
		s.log.Warn("enrollment refused", "remote", r.RemoteAddr, "hostname", controller.Clip(req.Hostname), "err", controller.Clip(err.Error()))
		status, msg := refusal(err, "ask an admin for a new enrollment token")
		writeError(w, status, msg)
		return
	}
	writeJSON(w, http.StatusOK, api.EnrollResponse{DeviceID: dev.ID, User: dev.User})
}

// handleGatewayEnroll turns a single-use gateway token into an enrolled
// gateway with its Ed25519 key.
func (s *Server) handleGatewayEnroll(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxEnrollBodyBytes)
	var req api.GatewayEnrollRequest
	err := decodeBody(r, &req)
	var res api.GatewayEnrollResponse
	if err == nil {
		res, _, err = s.core.Gateways.Enroll(r.Context(), req)
	}
	if err != nil {
		s.log.Warn("gateway enrollment refused", "remote", r.RemoteAddr, "err", controller.Clip(err.Error()))
		status, msg := refusal(err, "ask an admin for a new gateway token (gatehouse admin gateways create NAME)")
		writeError(w, status, controller.Clip(msg))
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// refusal is the status and message of a refused enrollment; a refused
// token gets hint, the next step.
func refusal(err error, hint string) (int, string) {
	status, msg := statusOf(err), err.Error()
	if status == http.StatusForbidden {
		msg += ": " + hint
	}
	return status, msg
}
