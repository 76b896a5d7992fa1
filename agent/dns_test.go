package agent

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/agent/splitdns"
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

// TestSplitDNSFollowsDomain: the resolver's link registration in
// systemd-resolved follows the controller's domain (once per change) and
// is reverted on close; without resolved the admin's hint names the
// domain, once per domain.
func TestSplitDNSFollowsDomain(t *testing.T) {
	var lines []string
	run := func(_ context.Context, name string, args ...string) ([]byte, error) {
		lines = append(lines, strings.Join(append([]string{name}, args...), " "))
		return nil, nil
	}
	addr := netip.MustParseAddr("127.0.0.1")
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	for _, resolved := range []bool{true, false} {
		srv, err := splitdns.Listen("127.0.0.1:0", api.DefaultDNSDomain)
		if err != nil {
			t.Fatal(err)
		}
		d := &splitDNS{srv: srv, addr: addr, log: log}
		if resolved {
			d.link = splitdns.NewLinkDNS(run, "gh0", addr)
		}
		lines = nil
		logs.Reset()
		ctx := context.Background()
		d.SetDomain(ctx, "corp.gatehouse")
		d.SetDomain(ctx, "corp.gatehouse")
		d.SetDomain(ctx, "gatehouse")
		d.Close()
		want := []string{
			"/usr/bin/resolvectl dns gh0 127.0.0.1", "/usr/bin/resolvectl domain gh0 ~corp.gatehouse", "/usr/bin/resolvectl default-route gh0 false",
			"/usr/bin/resolvectl dns gh0 127.0.0.1", "/usr/bin/resolvectl domain gh0 ~gatehouse", "/usr/bin/resolvectl default-route gh0 false",
			"/usr/bin/resolvectl revert gh0",
		}
		if !resolved {
			want = nil
		}
		if !slices.Equal(lines, want) {
			t.Errorf("resolved %v: commands = %q, want %q", resolved, lines, want)
		}
		hints := strings.Count(logs.String(), "in /etc/netns/NS/resolv.conf")
		if wantHints := map[bool]int{true: 0, false: 2}[resolved]; hints != wantHints {
			t.Errorf("resolved %v: %d fallback hints logged, want %d:\n%s", resolved, hints, wantHints, logs.String())
		}
		if d.Domain() != "gatehouse" {
			t.Errorf("resolved %v: Domain() = %q, want gatehouse", resolved, d.Domain())
		}
	}
}
