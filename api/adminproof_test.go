package api

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestAdminProof: a proof verifies for exactly the request, body and
// token it was made for; malformed headers are refused before any check.
func TestAdminProof(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	now := time.Unix(1_700_000_000, 0)
	h, err := SignAdminProof(key, "POST", "/api/v1/users?x=1", []byte(`{"name":"a"}`), "gha_tok", now)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseAdminProof(h)
	if err != nil || !p.Key.Equal(pub) || !p.Time.Equal(now) {
		t.Fatalf("ParseAdminProof(%q) = %+v, %v", h, p, err)
	}
	if !strings.HasPrefix(AdminBinding(pub), AdminBindingPrefix+"SHA256:") {
		t.Errorf("AdminBinding = %q", AdminBinding(pub))
	}
	for _, tc := range []struct {
		name, method, uri, body, token string
		wantErr                        bool
	}{
		{"same request", "POST", "/api/v1/users?x=1", `{"name":"a"}`, "gha_tok", false},
		{"other method", "PUT", "/api/v1/users?x=1", `{"name":"a"}`, "gha_tok", true},
		{"other query", "POST", "/api/v1/users?x=2", `{"name":"a"}`, "gha_tok", true},
		{"other body", "POST", "/api/v1/users?x=1", `{"name":"b"}`, "gha_tok", true},
		{"other token", "POST", "/api/v1/users?x=1", `{"name":"a"}`, "gha_other", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := p.Verify(tc.method, tc.uri, []byte(tc.body), tc.token)
			if (err != nil) != tc.wantErr || (err != nil && !errors.Is(err, ErrBadAdminProof)) {
				t.Errorf("Verify(%s %s) = %v, want error %v", tc.method, tc.uri, err, tc.wantErr)
			}
		})
	}
	parts := strings.Split(h, ".")
	for _, bad := range []string{"", "v1", "v2." + strings.Join(parts[1:], "."), strings.Join(parts[:4], "."),
		"v1.!!." + strings.Join(parts[2:], "."), strings.Join(parts[:2], ".") + ".x." + strings.Join(parts[3:], "."),
		h + "." + parts[4], strings.Repeat("a", 600)} {
		if _, err := ParseAdminProof(bad); !errors.Is(err, ErrBadAdminProof) {
			t.Errorf("ParseAdminProof(%.40q) = %v, want ErrBadAdminProof", bad, err)
		}
	}
}
