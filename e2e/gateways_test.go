package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/controller"
)

// TestGatewayOfflineDenies: an app whose gateway is not registered is
// denied at once, naming the gateway, never left hanging; once the gateway
// registers again the same app works.
func TestGatewayOfflineDenies(t *testing.T) {
	env, a := NewStandard(t, Options{})
	env.Ctrl.UnregisterGateway(controller.EmbeddedGateway, env.Link)
	start := time.Now()
	if got, err := a.Get("grafana", "/"); err == nil {
		t.Fatalf("Get(grafana) with its gateway offline = %q, want an error", got)
	}
	reasons := a.Decision("grafana", false, 2*time.Second)
	if !hasCode(reasons, "gateway.offline") || !hasReason(reasons, "gateway embedded is offline") {
		t.Errorf("reasons = %+v, want gateway.offline saying %q", reasons, "gateway embedded is offline")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("denial took %s, want it at once", took)
	}
	if peers := env.Gateway.Peers(context.Background()); len(peers) != 0 {
		t.Errorf("gateway peers = %+v, want none while it is offline", peers)
	}

	Must(t, env.Ctrl.RegisterGateway(context.Background(), controller.EmbeddedGateway, env.Link))
	if got, err := a.Get("grafana", "/"); err != nil || got != "hello from grafana" {
		t.Fatalf("Get(grafana) once the gateway is back = %q, %v, want %q", got, err, "hello from grafana")
	}
	if err := env.Ctrl.RegisterGateway(context.Background(), controller.EmbeddedGateway, &Link{Enforcer: env.Gateway}); err == nil {
		t.Errorf("RegisterGateway(%q) with another gateway = nil, want an error saying the name is taken", controller.EmbeddedGateway)
	}
}
