package posture

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// readFirewallTestdata reads a rule set recorded from real nft and
// iptables-save runs (see testdata/firewall).
func readFirewallTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "firewall", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNftFiltersInput(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    bool
		wantWhy string
		wantErr bool
	}{
		{name: "input policy drop", in: "nft-drop.json", want: true, wantWhy: "policy drop"},
		{name: "firewalld reject rule", in: "nft-reject.json", want: true, wantWhy: "reject"},
		{name: "drop in a chain input jumps to", in: "nft-jump.json", want: true, wantWhy: "drop"},
		{name: "nat only", in: "nft-nat.json", want: false, wantWhy: "no filter chain hooks input"},
		{name: "input accepts, forward drops", in: "nft-accept.json", want: false, wantWhy: "accept everything"},
		{name: "empty ruleset", in: "nft-empty.json", want: false, wantWhy: "no filter chain hooks input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why, err := nftFiltersInput([]byte(readFirewallTestdata(t, tt.in)))
			if (err != nil) != tt.wantErr || got != tt.want || !strings.Contains(why, tt.wantWhy) {
				t.Errorf("nftFiltersInput(%s) = %v, %q, %v; want %v, %q", tt.in, got, why, err, tt.want, tt.wantWhy)
			}
		})
	}
	if _, _, err := nftFiltersInput([]byte("table inet filter {")); err == nil {
		t.Errorf("nftFiltersInput(text output) = nil error, want a parse error")
	}
}

func TestIptablesFiltersInput(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    bool
		wantWhy string
	}{
		{name: "ufw: input policy drop", in: "iptables-ufw.txt", want: true, wantWhy: "INPUT policy DROP"},
		{name: "reject in a chain input jumps to", in: "iptables-reject.txt", want: true, wantWhy: "REJECT rule in in-guard"},
		{name: "docker default", in: "iptables-docker.txt", want: false, wantWhy: "INPUT accepts everything"},
		{name: "nat only", in: "iptables-nat.txt", want: false, wantWhy: "no filter table INPUT"},
		{name: "accept all", in: "iptables-accept.txt", want: false, wantWhy: "INPUT accepts everything"},
		{name: "empty", in: "iptables-empty.txt", want: false, wantWhy: "no filter table INPUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := iptablesFiltersInput(readFirewallTestdata(t, tt.in))
			if got != tt.want || !strings.Contains(why, tt.wantWhy) {
				t.Errorf("iptablesFiltersInput(%s) = %v, %q; want %v, %q", tt.in, got, why, tt.want, tt.wantWhy)
			}
		})
	}
}

func TestFirewall(t *testing.T) {
	type result struct {
		file string // testdata; "" with ok: empty output
		ok   bool
	}
	missing := result{}
	tests := []struct {
		name          string
		nft, iptables result
		want          api.BoolFact
		wantWhy       string
	}{
		{name: "no tools", want: api.BoolFact{}, wantWhy: "no firewall tool"},
		{name: "nft drop", nft: result{"nft-drop.json", true}, iptables: missing, want: api.KnownBool(true), wantWhy: "nftables"},
		{name: "nft nat only, no iptables", nft: result{"nft-nat.json", true}, iptables: missing, want: api.KnownBool(false), wantWhy: "nftables: no filter chain"},
		{name: "nft empty, legacy ufw", nft: result{"nft-empty.json", true}, iptables: result{"iptables-ufw.txt", true}, want: api.KnownBool(true), wantWhy: "iptables-save: INPUT policy DROP"},
		{name: "nft fails, docker iptables", nft: missing, iptables: result{"iptables-docker.txt", true}, want: api.KnownBool(false), wantWhy: "INPUT accepts everything"},
		{name: "nft garbage only", nft: result{"iptables-ufw.txt", true}, iptables: missing, want: api.BoolFact{}, wantWhy: "unreadable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := func(_ context.Context, name string, _ ...string) (string, bool) {
				r := map[string]result{"nft": tt.nft, "iptables-save": tt.iptables}[name]
				if !r.ok {
					return "", false
				}
				return readFirewallTestdata(t, r.file), true
			}
			got := firewall(context.Background(), run)
			if got.Fact != tt.want || !strings.Contains(got.Reason, tt.wantWhy) {
				t.Errorf("firewall(nft %+v, iptables %+v) = %+v, want %+v with %q", tt.nft, tt.iptables, got, tt.want, tt.wantWhy)
			}
		})
	}
}
