package posture

import (
	"context"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/api"
)

func TestNftActive(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{name: "empty ruleset", in: "", want: false},
		{
			name: "base chains accepting, no rules",
			in: `table inet filter {
	chain input {
		type filter hook input priority filter; policy accept;
	}
	chain forward {
		type filter hook forward priority filter; policy accept;
	}
}
`,
			want: false,
		},
		{
			name: "input policy drop",
			in: `table inet filter {
	chain input {
		type filter hook input priority filter; policy drop;
	}
}
`,
			want: true,
		},
		{
			name: "a rule",
			in: `table inet filter {
	chain input {
		type filter hook input priority filter; policy accept;
		ct state established,related accept
	}
}
`,
			want: true,
		},
		{
			name: "rule in a regular chain",
			in: `table ip nat {
	chain mine {
		ip saddr { 10.0.0.1, 10.0.0.2 } counter
	}
}
`,
			want: true,
		},
		{
			name: "sets and flowtables are not rules",
			in: `table inet filter {
	set blocked {
		type ipv4_addr
		elements = { 10.0.0.1,
			     10.0.0.2 }
	}
	flowtable f {
		hook ingress priority filter
		devices = { eth0 }
	}
	chain input {
		type filter hook input priority filter; policy accept;
		comment "left { open"
	}
	chain empty {
	}
}
`,
			want: false,
		},
		{
			name: "netdev ingress with devices, accepting",
			in: `table netdev edge {
	chain ingress {
		type filter hook ingress devices = { eth0, eth1 } priority filter; policy accept;
	}
}
`,
			want: false,
		},
		{
			name: "drop policy in second table",
			in: `table ip empty {
}
table ip6 filter {
	chain INPUT {
		type filter hook input priority filter; policy drop;
	}
}
`,
			want: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nftActive(tt.in); got != tt.want {
				t.Errorf("nftActive(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestIptablesActive(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{name: "empty output", in: "", want: false},
		{name: "default policies", in: "-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n", want: false},
		{name: "input drop", in: "-P INPUT DROP\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n", want: true},
		{name: "forward drop only", in: "-P INPUT ACCEPT\n-P FORWARD DROP\n-P OUTPUT ACCEPT\n", want: false},
		{name: "user chain without rules", in: "-P INPUT ACCEPT\n-N mine\n", want: false},
		{name: "a rule", in: "-P INPUT ACCEPT\n-A INPUT -i lo -j ACCEPT\n", want: true},
		{name: "legacy warning", in: "# Warning: iptables-legacy tables present, use iptables-legacy to see them\n-P INPUT ACCEPT\n", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := iptablesActive(tt.in); got != tt.want {
				t.Errorf("iptablesActive(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestFirewall(t *testing.T) {
	type result struct {
		out string
		ok  bool
	}
	missing := result{}
	tests := []struct {
		name          string
		nft, iptables result
		want          api.BoolFact
	}{
		{name: "no tools", nft: missing, iptables: missing, want: api.BoolFact{}},
		{name: "nft active", nft: result{"table ip t {\n\tchain c {\n\t\tdrop\n\t}\n}\n", true}, iptables: missing, want: api.KnownBool(true)},
		{name: "nft empty, no iptables", nft: result{"", true}, iptables: missing, want: api.KnownBool(false)},
		{name: "nft empty, legacy iptables rule", nft: result{"", true}, iptables: result{"-A INPUT -j DROP\n", true}, want: api.KnownBool(true)},
		{name: "nft fails, iptables empty", nft: missing, iptables: result{"-P INPUT ACCEPT\n", true}, want: api.KnownBool(false)},
		{name: "both fail", nft: missing, iptables: missing, want: api.BoolFact{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := func(_ context.Context, name string, _ ...string) (string, bool) {
				r := map[string]result{"nft": tt.nft, "iptables": tt.iptables}[name]
				return r.out, r.ok
			}
			if got := firewall(context.Background(), run); got != tt.want {
				t.Errorf("firewall(nft %+v, iptables %+v) = %+v, want %+v", tt.nft, tt.iptables, got, tt.want)
			}
		})
	}
}
