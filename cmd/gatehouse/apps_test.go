package main

import (
	"bytes"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/api"
)

func TestPrintApp(t *testing.T) {
	tests := []struct {
		name string
		in   localapi.App
		want string
	}{
		{"TUN mode: name and virtual IP", localapi.App{Name: "db", Allowed: true, LocalAddrs: []string{"127.0.0.1:17001"},
			DNSName: "db.corp.gatehouse", VirtualIP: "100.80.0.2"},
			"db: allowed  127.0.0.1:17001\n    by name: db.corp.gatehouse -> 100.80.0.2 (TUN)\n"},
		{"denied: the name, then why and the fix", localapi.App{Name: "db", LocalAddrs: []string{}, DNSName: "db.corp.gatehouse", VirtualIP: "100.80.0.2",
			Reasons: []api.Reason{{Message: "disk encryption is off", Remediation: "Turn on disk encryption"}}},
			"db: denied  \n    by name: db.corp.gatehouse -> 100.80.0.2 (TUN)\n    - disk encryption is off\n      fix: Turn on disk encryption\n"},
		{"proxy mode: the name only", localapi.App{Name: "wiki", Allowed: true, LocalAddrs: []string{"127.0.0.1:17002"}, DNSName: "wiki.gatehouse"},
			"wiki: allowed  127.0.0.1:17002\n    by name: wiki.gatehouse (through --socks5 or --tun)\n"},
		{"an older agent: no name line", localapi.App{Name: "wiki", Allowed: true, LocalAddrs: []string{"127.0.0.1:17002"}},
			"wiki: allowed  127.0.0.1:17002\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		printApp(&b, tt.in)
		if b.String() != tt.want {
			t.Errorf("%s: printApp(%+v) = %q, want %q", tt.name, tt.in, b.String(), tt.want)
		}
	}
}
