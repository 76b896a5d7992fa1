package httpapi

import (
	"net/http"

	"github.com/coder/websocket"

	"github.com/gatehouse-ztna/gatehouse/wire"
)

// handleGateway upgrades a standalone gateway's websocket (behind the
// per-source limit of its agent twin) and hands it to the core's gateway
// hub, which authenticates the gateway and serves its link until it ends.
func (s *Server) handleGateway(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		s.log.Info("gateway websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	s.core.Gateways.Serve(r.Context(), wire.NewConn(ws, "gateway"), r.TLS, r.RemoteAddr) // reads held to api.MaxMessageBytes
}
