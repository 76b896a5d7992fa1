package main

import (
	"io"
	"log/slog"
	"slices"
	"testing"
)

func TestPasskeyConfig(t *testing.T) {
	tests := []struct {
		name        string
		publicNames []string
		listen      string
		origins     []string
		wantRPID    string
		wantOrigins []string
	}{
		{"DNS name", []string{"gatehouse.example.com"}, ":8443", nil, "gatehouse.example.com", []string{"https://gatehouse.example.com:8443"}},
		{"port 443", []string{"gatehouse.example.com"}, ":443", nil, "gatehouse.example.com", []string{"https://gatehouse.example.com"}},
		{"address first", []string{"192.0.2.10", "gh.example.com."}, ":8443", nil, "gh.example.com", []string{"https://gh.example.com:8443"}},
		{"origin given", []string{"gh.example.com"}, ":8443", []string{"https://gh.example.com"}, "gh.example.com", []string{"https://gh.example.com"}},
		{"loopback", nil, "127.0.0.1:8443", nil, "localhost", []string{"https://localhost:8443"}},
		{"addresses only", []string{"192.0.2.10"}, ":8443", nil, "", nil},
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := passkeyConfig(tt.publicNames, tt.listen, tt.origins, log)
			if got.RPID != tt.wantRPID || !slices.Equal(got.Origins, tt.wantOrigins) {
				t.Errorf("passkeyConfig(%q, %q, %q) = %q %q, want %q %q", tt.publicNames, tt.listen, tt.origins, got.RPID, got.Origins, tt.wantRPID, tt.wantOrigins)
			}
		})
	}
}
