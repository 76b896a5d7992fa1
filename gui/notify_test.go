package gui

import (
	"reflect"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/api"
)

func TestNotifications(t *testing.T) {
	firewall := Reason{Code: api.CodePostureFirewall, Text: "the firewall is off", Fix: "Turn on the firewall"}
	signedOut := Reason{Code: api.CodeSignInRequired, Text: "nobody is signed in", Fix: "sign in: gatehouse login"}
	allowed := func(name string) App { return App{Name: name, Allowed: true} }
	blocked := func(name string, rs ...Reason) App { return App{Name: name, Reasons: rs} }
	up := func(apps ...App) State { return State{AgentUp: true, Apps: apps} }
	tests := []struct {
		name string
		old  State
		new  State
		want []Notification
	}{
		{"revoked with reason and fix", up(allowed("grafana")), up(blocked("grafana", firewall)),
			[]Notification{{"Access to grafana revoked", "Access to grafana revoked: the firewall is off (Turn on the firewall)"}}},
		{"restored", up(blocked("grafana", firewall)), up(allowed("grafana")),
			[]Notification{{"Access to grafana restored", "Access to grafana restored"}}},
		{"no change, no notification", up(allowed("grafana"), blocked("db", firewall)), up(allowed("grafana"), blocked("db", signedOut)), nil},
		{"one change cutting three apps is one notification", up(allowed("a"), allowed("b"), allowed("c")), up(blocked("a", signedOut), blocked("b", signedOut), blocked("c", signedOut)),
			[]Notification{{"Access to a, b and c revoked", "Access to a, b and c revoked: nobody is signed in (sign in: gatehouse login)"}}},
		{"different reasons are different notifications", up(allowed("a"), allowed("b"), blocked("c", firewall)), up(blocked("a", firewall), blocked("b", signedOut), allowed("c")),
			[]Notification{
				{"Access to a revoked", "Access to a revoked: the firewall is off (Turn on the firewall)"},
				{"Access to b revoked", "Access to b revoked: nobody is signed in (sign in: gatehouse login)"},
				{"Access to c restored", "Access to c restored"},
			}},
		{"several reasons: all texts, the first fix", up(allowed("a")), up(blocked("a", Reason{Text: "x is off"}, firewall)),
			[]Notification{{"Access to a revoked", "Access to a revoked: x is off; the firewall is off (Turn on the firewall)"}}},
		{"agent stopped: nothing known, nothing said", up(allowed("a")), State{}, nil},
		{"agent back: the first state is no change", State{}, up(blocked("a", firewall)), nil},
		{"an app offered anew is no restore", up(), up(allowed("a")), nil},
		{"an app withdrawn is no revoke", up(allowed("a")), up(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Notifications(tt.old, tt.new); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Notifications() = %q, want %q", got, tt.want)
			}
		})
	}
}
