package main

import (
	"testing"

	"github.com/gatehouse-ztna/gatehouse/api"
)

func TestFactsShowReasons(t *testing.T) {
	r := api.PostureReport{
		Firewall:  api.BoolFact{Known: true, Reason: "nftables: no filter chain hooks input"},
		Processes: map[string]api.BoolFact{"/usr/sbin/sshd": {Known: true, Reason: "/usr/sbin/sshd is owned by uid 1000, not root"}},
		Forbidden: map[string]api.BoolFact{"/usr/bin/nc": api.KnownBool(true)},
		Files:     map[string]api.BoolFact{"/etc/corp/ca.pem": {}},
	}
	want := map[string]string{
		"firewall":                      "false (nftables: no filter chain hooks input)",
		"process /usr/sbin/sshd":        "false (/usr/sbin/sshd is owned by uid 1000, not root)",
		"disk_encryption":               "unknown",
		"forbidden running /usr/bin/nc": "true",
		"file /etc/corp/ca.pem":         "unknown",
	}
	got := make(map[string]string)
	for _, f := range facts(r) {
		got[f[0]] = f[1]
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("facts(%+v)[%q] = %q, want %q", r, k, got[k], v)
		}
	}
}
