package api

import (
	"encoding/json"
	"fmt"
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

// decisionSet is a set of n apps, each with a decision carrying a reason,
// and a few checks.
func decisionSet(n int) DecisionsMsg {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m := DecisionsMsg{Apps: []AppInfo{}, Decisions: []Decision{}, Checks: []CheckResult{},
		Query: PostureQuery{Processes: []string{"edr-agent"}}, Domain: "corp.gatehouse"}
	for i := range n {
		name := fmt.Sprintf("app-%05d", i)
		m.Apps = append(m.Apps, AppInfo{Name: name, Ports: []uint16{443, 8443}, VirtualIP: fmt.Sprintf("100.80.%d.%d", i/256, i%256)})
		m.Decisions = append(m.Decisions, Decision{App: name, EvaluatedAt: at, Reasons: []Reason{{Code: "posture.disk_encryption",
			Message: "disk encryption is off", Remediation: "Turn on disk encryption"}}})
	}
	for i := range 3 {
		m.Checks = append(m.Checks, CheckResult{Profile: "secure", Check: fmt.Sprintf("check-%d", i), Status: CheckFail,
			Reason: Reason{Code: "c", Message: "m"}})
	}
	return m
}

func TestSplitDecisions(t *testing.T) {
	tests := []struct {
		name      string
		in        DecisionsMsg
		limit     int
		wantPages int // 0: more than one
	}{
		{name: "small set is one page", in: decisionSet(3), limit: MaxMessageBytes, wantPages: 1},
		{name: "empty set is one page", in: DecisionsMsg{}, limit: MaxMessageBytes, wantPages: 1},
		{name: "5,000 apps", in: decisionSet(5000), limit: MaxMessageBytes},
		{name: "tight limit", in: decisionSet(50), limit: 1024},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pages, tooBig := SplitDecisions(tt.in, tt.limit)
			if len(tooBig) > 0 {
				t.Fatalf("SplitDecisions(%d apps, %d) left out %q, want nothing", len(tt.in.Apps), tt.limit, tooBig)
			}
			if tt.wantPages != 0 && len(pages) != tt.wantPages || tt.wantPages == 0 && len(pages) < 2 {
				t.Fatalf("SplitDecisions(%d apps, %d) = %d pages, want %d (0: several)", len(tt.in.Apps), tt.limit, len(pages), tt.wantPages)
			}
			var asm DecisionPages
			var got DecisionsMsg
			for i, p := range pages {
				env, err := NewEnvelope(TypeDecisions, p)
				if err != nil {
					t.Fatal(err)
				}
				b, err := json.Marshal(env)
				if err != nil {
					t.Fatal(err)
				}
				if len(b) > tt.limit {
					t.Errorf("page %d = %d bytes, want at most %d", i, len(b), tt.limit)
				}
				var back DecisionsMsg
				if err := json.Unmarshal(env.Data, &back); err != nil {
					t.Fatal(err)
				}
				set, done, err := asm.Add(back)
				if err != nil || done != (i == len(pages)-1) {
					t.Fatalf("Add(page %d of %d) = done %v, %v, want done only on the last page", i, len(pages), done, err)
				}
				got = set
			}
			if !reflect.DeepEqual(got.Apps, tt.in.Apps) && len(tt.in.Apps) > 0 ||
				!reflect.DeepEqual(got.Decisions, tt.in.Decisions) && len(tt.in.Decisions) > 0 ||
				!reflect.DeepEqual(got.Checks, tt.in.Checks) && len(tt.in.Checks) > 0 ||
				!reflect.DeepEqual(got.Query, tt.in.Query) || got.Domain != tt.in.Domain {
				t.Errorf("pages put back together differ from the set: %d apps, %d decisions, %d checks, query %v, domain %q; want %d, %d, %d, %v, %q",
					len(got.Apps), len(got.Decisions), len(got.Checks), got.Query, got.Domain, len(tt.in.Apps), len(tt.in.Decisions), len(tt.in.Checks), tt.in.Query, tt.in.Domain)
			}
		})
	}
}

func TestSplitDecisionsLeavesOutWhatCannotFit(t *testing.T) {
	m := decisionSet(20)
	huge := make([]uint16, 0, 400)
	for p := range 400 {
		huge = append(huge, uint16(10000+p))
	}
	m.Apps[7].Ports = huge
	pages, tooBig := SplitDecisions(m, 1024)
	if len(tooBig) != 1 || !strings.Contains(tooBig[0], `app "app-00007"`) {
		t.Fatalf("SplitDecisions(one app with 400 ports, 1024) left out %q, want app-00007 alone", tooBig)
	}
	n := 0
	for _, p := range pages {
		n += len(p.Apps)
	}
	if n != 19 {
		t.Errorf("SplitDecisions(...) kept %d apps, want 19", n)
	}
}

func TestDecisionPages(t *testing.T) {
	page := func(i, of int, app string) DecisionsMsg {
		return DecisionsMsg{Apps: []AppInfo{{Name: app}}, Page: i, Pages: of}
	}
	tests := []struct {
		name     string
		in       []DecisionsMsg
		want     []string // apps of the set completed by the last message; nil: none
		wantErrs int
	}{
		{name: "unpaged message is a whole set", in: []DecisionsMsg{{Apps: []AppInfo{{Name: "a"}}}}, want: []string{"a"}},
		{name: "page 0 of 1", in: []DecisionsMsg{page(0, 1, "a")}, want: []string{"a"}},
		{name: "three pages in order", in: []DecisionsMsg{page(0, 3, "a"), page(1, 3, "b"), page(2, 3, "c")}, want: []string{"a", "b", "c"}},
		{name: "last page not yet", in: []DecisionsMsg{page(0, 3, "a"), page(1, 3, "b")}},
		{name: "page skipped", in: []DecisionsMsg{page(0, 3, "a"), page(2, 3, "c")}, wantErrs: 1},
		{name: "page without its first", in: []DecisionsMsg{page(1, 2, "b")}, wantErrs: 1},
		{name: "page count changes", in: []DecisionsMsg{page(0, 3, "a"), page(1, 2, "b")}, wantErrs: 1},
		{name: "a new set replaces an unfinished one", in: []DecisionsMsg{page(0, 3, "a"), page(0, 2, "x"), page(1, 2, "y")}, want: []string{"x", "y"}},
		{name: "after an error the next whole set counts", in: []DecisionsMsg{page(0, 3, "a"), page(2, 3, "c"), page(0, 2, "x"), page(1, 2, "y")},
			want: []string{"x", "y"}, wantErrs: 1},
		{name: "too many pages", in: []DecisionsMsg{page(0, MaxDecisionPages+1, "a")}, wantErrs: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p DecisionPages
			var got []string
			errs := 0
			for i, m := range tt.in {
				set, done, err := p.Add(m)
				if err != nil {
					errs++
				}
				if done && i != len(tt.in)-1 {
					t.Fatalf("Add(message %d of %d) completed a set early", i, len(tt.in))
				}
				if done {
					got = []string{}
					for _, a := range set.Apps {
						got = append(got, a.Name)
					}
				}
			}
			if !reflect.DeepEqual(got, tt.want) || errs != tt.wantErrs {
				t.Errorf("Add(%d messages) = apps %q with %d errors, want %q with %d", len(tt.in), got, errs, tt.want, tt.wantErrs)
			}
		})
	}
}

func TestCheckDNSDomain(t *testing.T) {
	tests := []struct {
		in      string
		wantErr bool
	}{
		{"gatehouse", false},
		{"corp.gatehouse", false},
		{"zt-1.example.com", false},
		{"", true},
		{"Corp.gatehouse", true},
		{"corp..gatehouse", true},
		{"corp.gatehouse.", true},
		{".gatehouse", true},
		{"-corp.gatehouse", true},
		{"corp_x.gatehouse", true},
		{"corp gatehouse", true},
		{"localhost", true},
		{"apps.local", true},
		{"in-addr.arpa", true},
		{strings.Repeat("a", 64) + ".gatehouse", true},
	}
	for _, tt := range tests {
		if err := CheckDNSDomain(tt.in); (err != nil) != tt.wantErr {
			t.Errorf("CheckDNSDomain(%q) = %v, want error %v", tt.in, err, tt.wantErr)
		}
	}
	if got := DNSDomainOrDefault(""); got != DefaultDNSDomain {
		t.Errorf("DNSDomainOrDefault(\"\") = %q, want %q", got, DefaultDNSDomain)
	}
}
