package controller

import (
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/grants"
)

// TestAgentMessage: the agent pusher sends renewals and revocations (an
// expiry is one too), from the event alone; the rest it leaves alone.
func TestAgentMessage(t *testing.T) {
	reasons := []api.Reason{{Code: api.CodeGatewayLostGrant, Message: "gateway embedded no longer holds this tunnel"}}
	ev := func(k grants.Kind) grants.Event {
		return grants.Event{Kind: k, Device: "dev_1", App: "grafana", PublicKey: "k1", Lease: time.Minute, Reasons: reasons}
	}
	tests := []struct {
		in      grants.Kind
		wantTyp string
		wantMsg any
	}{
		{in: grants.Renewed, wantTyp: api.TypeRenew, wantMsg: api.Renewal{App: "grafana", PublicKey: "k1", Lease: api.Duration(time.Minute)}},
		{in: grants.Revoked, wantTyp: api.TypeRevoke, wantMsg: api.Revocation{App: "grafana", PublicKey: "k1", Reasons: reasons}},
		{in: grants.Expired, wantTyp: api.TypeRevoke, wantMsg: api.Revocation{App: "grafana", PublicKey: "k1", Reasons: reasons}},
		{in: grants.Issued}, // answered on the link that asked
		{in: grants.Denied}, // likewise
		{in: grants.Released},
		{in: grants.Moved},
	}
	for _, tt := range tests {
		t.Run(tt.in.String(), func(t *testing.T) {
			typ, msg, ok := agentMessage(ev(tt.in))
			if typ != tt.wantTyp || !reflect.DeepEqual(msg, tt.wantMsg) || ok != (tt.wantTyp != "") {
				t.Errorf("agentMessage(%v) = %q, %+v, %v, want %q, %+v", tt.in, typ, msg, ok, tt.wantTyp, tt.wantMsg)
			}
		})
	}
}
