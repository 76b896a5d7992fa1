package agent

import (
	"fmt"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// TestDomainFromDecisions: the controller's domain names the apps in
// `gatehouse apps` and `gatehouse status`; an older controller's empty one
// is the default; a domain that is none is refused and the one before
// kept.
func TestDomainFromDecisions(t *testing.T) {
	a, fake := testAgent(t)
	apps := []api.AppInfo{{Name: "grafana", Ports: []uint16{80}, VirtualIP: "100.80.0.7"}}
	dnsName := func() string {
		for _, app := range a.Apps() {
			if app.Name == "grafana" {
				return app.DNSName
			}
		}
		return ""
	}
	steps := []struct {
		name, domain, want string
	}{
		{"the controller's domain", "corp.gatehouse", "grafana.corp.gatehouse"},
		{"an older controller sends none", "", "grafana.gatehouse"},
		{"back to the controller's", "corp.gatehouse", "grafana.corp.gatehouse"},
		{"a bad domain keeps the one before", "evil..example", "grafana.corp.gatehouse"},
	}
	for i, st := range steps {
		// Each set lists one more app, so its arrival can be seen even
		// when the name stays.
		apps = append(apps, api.AppInfo{Name: fmt.Sprintf("app%d", i), Ports: []uint16{80}})
		fake.SendDecisions(t, api.DecisionsMsg{Apps: apps, Domain: st.domain}, api.MaxMessageBytes)
		eventually(t, st.name, func() bool { return len(a.Apps()) == len(apps) })
		if got := dnsName(); got != st.want {
			t.Errorf("%s: grafana's DNS name = %q, want %q", st.name, got, st.want)
		}
		if got := a.Status().DNSDomain; "grafana."+got != st.want {
			t.Errorf("%s: Status().DNSDomain = %q, want the domain of %q", st.name, got, st.want)
		}
		if vip := a.Apps()[0].VirtualIP; vip != "" {
			t.Errorf("%s: Apps()[0].VirtualIP = %q outside TUN mode, want none", st.name, vip)
		}
	}
}
