package main

import (
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

func TestGatewayRow(t *testing.T) {
	seen := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   api.Gateway
		want []string
	}{
		{"online", api.Gateway{Name: "site-a", State: api.GatewayOnline, Version: "0.1.0", Peers: 3, OpenFlows: 7, Endpoint: "gw.example.com:51820", LastSeen: seen},
			[]string{"site-a", "online", "0.1.0", "3", "7", "gw.example.com:51820", seen.Local().Format(time.RFC3339)}},
		{"never connected", api.Gateway{Name: "site-b", State: api.GatewayOffline},
			[]string{"site-b", "offline", "", "0", "0", "", "never"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := gatewayRow(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("gatewayRow(%q) = %q, want %q", tt.in.Name, got, tt.want)
			}
		})
	}
}
