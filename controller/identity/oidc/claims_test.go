package oidc

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
)

func rawClaims(t *testing.T, js string) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPolicyClaims(t *testing.T) {
	long := strings.Repeat("x", MaxClaimValueBytes+1)
	longKey := strings.Repeat("k", MaxClaimKeyBytes+1)
	tests := []struct {
		name        string
		in          string
		want        map[string]string
		wantDropped int
	}{
		{name: "scalars as strings",
			in:   `{"department":"sre","level":3,"ratio":1.5,"contractor":false,"big":12345678901234567890}`,
			want: map[string]string{"department": "sre", "level": "3", "ratio": "1.5", "contractor": "false", "big": "12345678901234567890"}},
		{name: "protocol claims left out, not counted",
			in:   `{"sub":"u1","aud":"gh","azp":"gh","exp":1,"iat":1,"nbf":1,"nonce":"n","at_hash":"h","c_hash":"h","sid":"s","auth_time":1,"jti":"j","client_id":"gh","scope":"openid"}`,
			want: map[string]string{"sub": "u1"}},
		{name: "lists, objects and null dropped",
			in:          `{"roles":["a","b"],"address":{"street":"x"},"nick":null,"team":"db"}`,
			want:        map[string]string{"team": "db"},
			wantDropped: 3},
		{name: "too long value dropped whole, not cut",
			in:          fmt.Sprintf(`{"department":%q,"title":"ok"}`, long),
			want:        map[string]string{"title": "ok"},
			wantDropped: 1},
		{name: "value at the bound kept",
			in:   fmt.Sprintf(`{"department":%q}`, long[1:]),
			want: map[string]string{"department": long[1:]}},
		{name: "too long key dropped",
			in:          fmt.Sprintf(`{%q:"v"}`, longKey),
			want:        map[string]string{},
			wantDropped: 1},
		{name: "control and format characters dropped",
			in:          `{"department":"sre\u0000","title":"a\nb","team":"db\u202e","empty":"","":"x"}`,
			want:        map[string]string{"empty": ""},
			wantDropped: 4},
		{name: "non-ASCII printable kept",
			in:   `{"name":"Zoë Çelik"}`,
			want: map[string]string{"name": "Zoë Çelik"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, dropped := policyClaims(rawClaims(t, tt.in))
			if !maps.Equal(got, tt.want) || dropped != tt.wantDropped {
				t.Errorf("policyClaims(%s) = %v, %d dropped; want %v, %d dropped", tt.in, got, dropped, tt.want, tt.wantDropped)
			}
		})
	}
}

// TestPolicyClaimsBounded: a flood of claims keeps at most MaxClaims, the
// identity claims among them whatever their keys sort as.
func TestPolicyClaimsBounded(t *testing.T) {
	m := map[string]any{"iss": "https://idp", "sub": "u1", "email": "a@x", "email_verified": true, "name": "A"}
	for i := range 1000 {
		m[fmt.Sprintf("a%04d", i)] = "v"
	}
	b, _ := json.Marshal(m)
	got, dropped := policyClaims(rawClaims(t, string(b)))
	if len(got) != MaxClaims || dropped != len(m)-MaxClaims {
		t.Errorf("policyClaims(%d claims) kept %d, dropped %d; want %d kept, %d dropped", len(m), len(got), dropped, MaxClaims, len(m)-MaxClaims)
	}
	for _, k := range firstClaims {
		if _, ok := got[k]; !ok {
			t.Errorf("policyClaims(flood) lost %q; the identity claims come first", k)
		}
	}
	if got["a0000"] != "v" || got["a0999"] != "" {
		t.Errorf("policyClaims(flood): want the first keys in order kept, the last dropped; got a0000=%q a0999=%q", got["a0000"], got["a0999"])
	}
}
