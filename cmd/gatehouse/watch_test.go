package main

import (
	"reflect"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/api"
)

func TestChangeLines(t *testing.T) {
	fw := api.Reason{Code: api.CodePostureFirewall, Message: "the firewall is off", Remediation: "Turn on the firewall"}
	state := func(allowed bool, check string, evs ...localapi.Event) localapi.Update {
		app := localapi.App{Name: "grafana", Allowed: allowed, LocalAddrs: []string{"127.0.0.1:4000"}}
		c := api.CheckResult{Profile: "secure", Check: "firewall", Status: check, Reason: api.Reason{Message: "the firewall is on"}}
		if !allowed {
			app.Reasons = []api.Reason{fw}
			c.Reason = fw
		}
		return localapi.Update{Type: localapi.UpdateSnapshot,
			Status:  &localapi.Status{Controller: "https://ctl", Connected: true, Session: localapi.Session{SignedIn: true, User: "alice"}},
			Apps:    []localapi.App{app},
			Posture: &localapi.Posture{Checks: []api.CheckResult{c}},
			Login:   &localapi.Login{}, Events: evs}
	}
	up := state(true, api.CheckPass)
	down := state(false, api.CheckFail, localapi.Event{Kind: localapi.EventRevoked, App: "grafana", Reasons: []api.Reason{fw}})
	back := state(true, api.CheckPass, localapi.Event{Kind: localapi.EventRestored, App: "grafana"})
	tests := []struct {
		name string
		prev *localapi.Update
		in   localapi.Update
		want []string
	}{
		{"first", nil, up, []string{"controller https://ctl: connected", "session: signed in as alice",
			"grafana: allowed at 127.0.0.1:4000", "posture secure/firewall: pass"}},
		{"nothing changed", &up, up, nil},
		{"revoked", &up, down, []string{"access to grafana revoked: the firewall is off (Turn on the firewall)",
			"posture secure/firewall: fail: the firewall is off (fix: Turn on the firewall)"}},
		{"restored", &down, back, []string{"access to grafana restored", "posture secure/firewall: pass"}},
		{"pending sign-in", &up, func() localapi.Update {
			u := up
			u.Login = &localapi.Login{State: localapi.LoginPending, VerificationURIComplete: "https://ctl/device?code=AB", UserCode: "ABCD-EFGH"}
			return u
		}(), []string{"sign-in pending: open https://ctl/device?code=AB and enter code ABCD-EFGH"}},
		{"disconnected", &up, func() localapi.Update {
			u := up
			u.Status = &localapi.Status{Controller: "https://ctl", LastError: "dial: refused\x1b[2J", Session: up.Status.Session}
			return u
		}(), []string{`controller https://ctl: NOT connected ("dial: refused\x1b[2J")`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := changeLines(tt.prev, tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("changeLines() = %q, want %q", got, tt.want)
			}
		})
	}
}
