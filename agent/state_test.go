package agent

import (
	"strings"
	"testing"
)

func TestCheckControllerURL(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{in: "https://gatehouse.example.com:8443"},
		{in: "https://10.0.0.1:8443"},
		{in: "http://127.0.0.1:8443"},
		{in: "http://localhost:8443"},
		{in: "http://[::1]:8443"},
		{in: "http://gatehouse.example.com:8443", wantErr: "use https://"},
		{in: "http://10.0.0.1:8443", wantErr: "use https://"},
		{in: "ftp://x", wantErr: "scheme must be https"},
		{in: "gatehouse.example.com", wantErr: "want https://host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			err := checkControllerURL(tt.in)
			if tt.wantErr == "" && err != nil {
				t.Errorf("checkControllerURL(%q) = %v, want nil", tt.in, err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("checkControllerURL(%q) = %v, want an error containing %q", tt.in, err, tt.wantErr)
			}
		})
	}
}

func TestLoadStateUnenrolled(t *testing.T) {
	_, err := LoadState(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "gatehouse-agent enroll") {
		t.Errorf("LoadState(empty dir) = %v, want an error that says to enroll", err)
	}
}
