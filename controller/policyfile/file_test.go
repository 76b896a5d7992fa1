package policyfile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

func parseTestdata(t *testing.T, name string) (*File, error) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return Parse(name, src)
}

// TestParseErrors: each malformed file in testdata fails with its first
// error at the line and column of the fault, and a message naming it.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		file      string
		line, col int
		want      string
	}{
		{"syntax.hujson", 3, 18, "syntax error"},
		{"unknown_field.hujson", 5, 4, `unknown field "upstream"; the fields here are name, upstreams`},
		{"unknown_section.hujson", 4, 2, `unknown section "polices"`},
		{"dangling.hujson", 6, 24, `policy "p" names app "grafna", which the file does not declare`},
		{"bad_cel.hujson", 7, 17, "undeclared reference to 'request.tim'"},
		{"duplicate.hujson", 4, 3, `app "grafana" is declared twice`},
		{"bad_type.hujson", 4, 19, `field "upstreams": string given where a list is wanted`},
		{"duplicate_key.hujson", 3, 56, `key "name" given twice`},
		{"unclosed_comment.hujson", 3, 2, "comment /* not closed"},
		{"bad_test.hujson", 7, 16, `unknown field "disk_encrypton"`},
		{"missing_section.hujson", 1, 1, `section "posture_profiles" is missing`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := parseTestdata(t, tt.file)
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("Parse(%q) = %v, want Errors", tt.file, err)
			}
			got := es[0]
			if got.Line != tt.line || got.Col != tt.col || !strings.Contains(got.Msg, tt.want) {
				t.Errorf("Parse(%q) first error = %v, want %s:%d:%d: …%s…", tt.file, got, tt.file, tt.line, tt.col, tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.file+":") {
				t.Errorf("Parse(%q) error %q does not start with the file name", tt.file, err)
			}
		})
	}
}

// users are the live users the tests run with.
var users = []api.User{{Name: "alice"}, {Name: "bob"}, {Name: "carol"}, {Name: "dave"}}

func TestParseGoodAndRunTests(t *testing.T) {
	f, err := parseTestdata(t, "good.hujson")
	if err != nil {
		t.Fatalf("Parse(good.hujson) = %v", err)
	}
	if len(f.Groups) != 2 || len(f.Apps) != 2 || len(f.Profiles) != 1 || len(f.Policies) != 2 || len(f.Tests) != 5 {
		t.Fatalf("Parse(good.hujson) = %d groups, %d apps, %d profiles, %d policies, %d tests; want 2, 2, 1, 2, 5",
			len(f.Groups), len(f.Apps), len(f.Profiles), len(f.Policies), len(f.Tests))
	}
	if p := f.Tests[0].Posture; p == nil || !p.DiskEncryption.Known || p.DiskEncryption.Value || p.OSFamily.Value != "linux" {
		t.Errorf("test posture shorthand = %+v, want disk_encryption known false, os_family linux", p)
	}
	for _, r := range f.Run(context.Background(), users, time.Now()) {
		if !r.Passed {
			t.Errorf("test %q failed: %s (reasons %v)", r.Name, r.Failure, r.Reasons)
		}
	}
}

// TestRunFailing: a test whose expectation the policy does not meet
// fails, and says what it got.
func TestRunFailing(t *testing.T) {
	src, _ := os.ReadFile("testdata/good.hujson")
	// Drop the disk encryption check: alice's test expecting a denial fails.
	bad := strings.Replace(string(src), `"disk_encryption": true, "firewall": true}`, `"firewall": true}`, 1)
	f, err := Parse("bad.hujson", []byte(bad))
	if err != nil {
		t.Fatal(err)
	}
	rs := f.Run(context.Background(), users, time.Now())
	if rs[0].Passed || !strings.Contains(rs[0].Failure, "expected deny, got allowed") {
		t.Errorf("Run()[0] = %+v, want a failure: expected deny, got allowed", rs[0])
	}
	for _, r := range rs[1:] {
		if !r.Passed {
			t.Errorf("Run() %q = %s, want pass", r.Name, r.Failure)
		}
	}
}

// TestFormatRoundTrip: Format's output parses back to the same objects,
// so diff shows nothing and the version is stable.
func TestFormatRoundTrip(t *testing.T) {
	f, err := parseTestdata(t, "good.hujson")
	if err != nil {
		t.Fatal(err)
	}
	out := Format(f.Objects)
	g, err := Parse("export", out)
	if err != nil {
		t.Fatalf("Parse(Format()) = %v\n%s", err, out)
	}
	if d := Diff(f.Objects, g.Objects); len(d) != 0 {
		t.Errorf("Diff(file, Parse(Format(file))) = %+v, want none", d)
	}
	if Version(f.Objects) != Version(g.Objects) {
		t.Errorf("Version changed over a round trip")
	}
}

func TestDiff(t *testing.T) {
	live := Objects{
		Apps:     []api.App{{Name: "a", Upstreams: []string{"h:1"}}, {Name: "gone", Upstreams: []string{"h:2"}}},
		Policies: []api.Policy{{Name: "p", Groups: []string{"eng"}, Apps: []string{"a"}}},
	}
	want := Objects{
		Apps:     []api.App{{Name: "a", Upstreams: []string{"h:9"}}, {Name: "new", Upstreams: []string{"h:3"}}},
		Policies: []api.Policy{{Name: "p", Groups: []string{"eng"}, Apps: []string{"a"}, PostureProfiles: []string{}}},
	}
	got := Diff(live, want)
	wantKinds := []string{"app a changed", "app gone deleted", "app new created"}
	if len(got) != len(wantKinds) {
		t.Fatalf("Diff() = %+v, want %v (an empty list and an absent one are the same)", got, wantKinds)
	}
	for i, ch := range got {
		if s := ch.Object + " " + ch.Name + " " + ch.Kind; s != wantKinds[i] {
			t.Errorf("Diff()[%d] = %q, want %q", i, s, wantKinds[i])
		}
	}
	if f := got[0].Fields; len(f) != 1 || f[0].Field != "upstreams" || f[0].Old != `["h:1"]` || f[0].New != `["h:9"]` {
		t.Errorf("Diff() fields of a = %+v, want upstreams [\"h:1\"] → [\"h:9\"]", f)
	}
}

// TestRunSessionDeviceAndAddress: a test's session (ages counted back
// from its time), device state and source address reach the engine.
func TestRunSessionDeviceAndAddress(t *testing.T) {
	src := `{
	"groups": [{"name": "eng", "members": ["alice"]}],
	"apps": [{"name": "grafana", "upstreams": ["127.0.0.1:3000"]}],
	"posture_profiles": [],
	"policies": [{"name": "p", "groups": ["eng"], "apps": ["grafana"], "mfa_max_age": "12h",
	              "condition": "request.source_ip.startsWith('10.')"}],
	"exceptions": [],
	"tests": [
		{"name": "fresh mfa from the office", "user": "alice", "app": "grafana", "time": "2026-03-02T10:00:00Z",
		 "session": {"methods": ["pwd", "otp"], "signed_in_ago": "13h", "mfa_ago": "1h"}, "source_ip": "10.1.2.3", "expect": "allow"},
		{"name": "stale mfa", "user": "alice", "app": "grafana", "source_ip": "10.1.2.3",
		 "session": {"mfa_ago": "13h"}, "expect": "deny", "reasons": ["mfa.too_old"]},
		{"name": "no session", "user": "alice", "app": "grafana", "source_ip": "10.1.2.3", "expect": "deny", "reasons": ["session.none"]},
		{"name": "from elsewhere", "user": "alice", "app": "grafana", "source_ip": "192.0.2.1",
		 "session": {"mfa_ago": "1h"}, "expect": "deny", "reasons": ["policy.condition"]},
		{"name": "blocked device", "user": "alice", "app": "grafana", "device": {"state": "blocked"}, "source_ip": "10.1.2.3",
		 "session": {"mfa_ago": "1h"}, "expect": "deny", "reasons": ["device.blocked"]},
	],
}`
	f, err := Parse("session.hujson", []byte(src))
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	for _, r := range f.Run(context.Background(), users, time.Now()) {
		if !r.Passed {
			t.Errorf("test %q: %s (reasons %v)", r.Name, r.Failure, r.Reasons)
		}
	}
}

// TestRunClaims: a test gives the user's IdP claims; a condition on them
// allows and denies by what the test says, and a test without claims has
// none (the condition cannot be evaluated: deny).
func TestRunClaims(t *testing.T) {
	src := `{
	"groups": [{"name": "eng", "members": ["alice"]}],
	"apps": [{"name": "grafana", "upstreams": ["127.0.0.1:3000"]}],
	"posture_profiles": [],
	"policies": [{"name": "p", "groups": ["eng"], "apps": ["grafana"], "condition": "user.claims.department == 'sre'"}],
	"exceptions": [],
	"tests": [
		{"name": "sre", "user": "alice", "app": "grafana", "claims": {"department": "sre"}, "expect": "allow"},
		{"name": "sales", "user": "alice", "app": "grafana", "claims": {"department": "sales"}, "expect": "deny", "reasons": ["policy.condition"]},
		{"name": "no claims", "user": "alice", "app": "grafana", "expect": "deny", "reasons": ["policy.condition"]},
	],
}`
	f, err := Parse("claims.hujson", []byte(src))
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	for _, r := range f.Run(context.Background(), users, time.Now()) {
		if !r.Passed {
			t.Errorf("test %q: %s (reasons %v)", r.Name, r.Failure, r.Reasons)
		}
	}
}
