package localapi

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFindSocket(t *testing.T) {
	dir := t.TempDir()
	own, service := filepath.Join(dir, "own.sock"), filepath.Join(dir, "service.sock")
	tests := []struct {
		name   string
		exists []string
		want   string
	}{
		{"neither: the user's, so errors name it", nil, own},
		{"only the service's", []string{service}, service},
		{"both: the user's own agent first", []string{own, service}, own},
		{"only the user's", []string{own}, own},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(own)
			os.Remove(service)
			for _, p := range tt.exists {
				if err := os.WriteFile(p, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if got := findSocket(own, service); got != tt.want {
				t.Errorf("findSocket(%q, %q) with %v = %q, want %q", own, service, tt.exists, got, tt.want)
			}
		})
	}
}
