package api

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestMarkUnknown(t *testing.T) {
	r := PostureReport{
		DiskEncryption: KnownBool(true), Firewall: KnownBool(true), Kernel: KnownString("6.1"),
		UptimeSeconds: KnownInt(5), Processes: map[string]BoolFact{"a": KnownBool(true)},
	}
	r.MarkUnknown([]string{"disk_encryption", "kernel", "uptime_seconds", "processes", "no_such_fact"})
	want := PostureReport{Firewall: KnownBool(true), Processes: map[string]BoolFact{"a": {}}}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("MarkUnknown = %+v, want %+v", r, want)
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{name: "good", in: `{"v":1,"type":"renew","data":{"app":"a","public_key":"k","expires_at":"2026-01-02T03:04:05Z"}}`},
		{name: "unknown field ignored", in: `{"v":1,"type":"renew","data":{"app":"a","extra":1}}`},
		{name: "newer version", in: `{"v":2,"type":"renew","data":{"app":"a"}}`, wantErr: true},
		{name: "wrong type", in: `{"v":1,"type":"renew","data":{"app":42}}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var env Envelope
			if err := json.Unmarshal([]byte(tt.in), &env); err != nil {
				t.Fatal(err)
			}
			var r Renewal
			err := env.Decode(&r)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Decode(%s) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err == nil && r.App != "a" {
				t.Errorf("Decode(%s).App = %q, want %q", tt.in, r.App, "a")
			}
		})
	}
}

func TestDurationJSON(t *testing.T) {
	b, err := json.Marshal(Duration(1500 * time.Millisecond))
	if err != nil || string(b) != `"1.5s"` {
		t.Fatalf("Marshal(1.5s) = %s, %v, want %q", b, err, `"1.5s"`)
	}
	var d Duration
	if err := json.Unmarshal([]byte(`"2m"`), &d); err != nil || time.Duration(d) != 2*time.Minute {
		t.Errorf("Unmarshal(2m) = %v, %v, want 2m", time.Duration(d), err)
	}
	if err := json.Unmarshal([]byte(`120`), &d); err == nil {
		t.Error("Unmarshal(120) = nil error, want one asking for a string")
	}
}

// TestAuthProofIsUnambiguous: no two different (exporter, device, nonce)
// triples sign the same message, and every proof opens with the context.
func TestAuthProofIsUnambiguous(t *testing.T) {
	type in struct {
		exporter, device, nonce string
	}
	ins := []in{
		{"", "dev_a", "n"},
		{"", "dev_an", ""},
		{"x", "dev_a", "n"},
		{"", "xdev_a", "n"},
		{"", "dev_a", "nn"},
		{"e", "", "dev_an"},
	}
	seen := map[string]in{}
	for _, v := range ins {
		msg := string(AuthProof([]byte(v.exporter), v.device, []byte(v.nonce)))
		if !strings.HasPrefix(msg, AuthProofContext) {
			t.Errorf("AuthProof(%+v) = %q, want it to start with %q", v, msg, AuthProofContext)
		}
		if other, ok := seen[msg]; ok {
			t.Errorf("AuthProof(%+v) = AuthProof(%+v) = %q", v, other, msg)
		}
		seen[msg] = v
	}
}

func TestAuthExporterWithoutTLS(t *testing.T) {
	if got, err := AuthExporter(nil); got != nil || err != nil {
		t.Errorf("AuthExporter(nil) = %x, %v, want nil, nil", got, err)
	}
}
