package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
)

// opsOnly is the standard world with grafana moved from eng to ops, and
// tests (tests is their JSON).
const opsOnly = `{
	"groups": [{"name": "eng", "members": ["alice"]}, {"name": "ops"}],
	"apps": [
		{"name": "grafana", "upstreams": [%q]},
		{"name": "wiki", "upstreams": [%q]},
	],
	"posture_profiles": [{"name": "secure", "disk_encryption": true, "firewall": true}],
	"policies": [{"name": "eng-grafana", "groups": ["ops"], "apps": ["grafana"], "posture_profiles": ["secure"]}],
	"exceptions": [],
	"tests": [%s],
}
`

// TestAdminCLIPolicyFile: `gatehouse admin policy` end to end, against a
// real controller with alice's agent connected: export → diff shows
// nothing and apply changes nothing; a file whose test fails is refused
// and changes nothing; a malformed one is refused at its line; a good
// one applies in one step and alice's agent loses grafana at once.
func TestAdminCLIPolicyFile(t *testing.T) {
	env, a := NewStandard(t, Options{})
	dir := t.TempDir()
	exported := filepath.Join(dir, "exported.hujson")
	env.admin(t, false, "policy", "export", "-o", exported)
	if out := env.admin(t, false, "policy", "diff", exported); !strings.Contains(out, "no changes") {
		t.Errorf("policy diff of the export = %q, want no changes", out)
	}
	if out := env.admin(t, false, "policy", "apply", exported); !strings.Contains(out, "nothing to apply") {
		t.Errorf("policy apply of the export = %q, want nothing to apply", out)
	}
	before, err := env.Admin.PolicyExport(context.Background())
	Must(t, err)

	apps, err := adminclient.List[api.App](context.Background(), env.Admin, api.PathApps)
	Must(t, err)
	write := func(name, tests string) string {
		path := filepath.Join(dir, name)
		Must(t, os.WriteFile(path, fmt.Appendf(nil, opsOnly, apps[0].Upstreams[0], apps[1].Upstreams[0], tests), 0o644))
		return path
	}
	keeps := `{"name": "alice keeps grafana", "user": "alice", "app": "grafana",
		"posture": {"disk_encryption": true, "firewall": true}, "expect": "allow"}`
	out := env.admin(t, true, "policy", "apply", write("failing.hujson", keeps))
	if !strings.Contains(out, "FAIL  alice keeps grafana") || !strings.Contains(out, "nothing was applied") {
		t.Errorf("policy apply with a failing test = %q, want the test named and nothing applied", out)
	}
	malformed := strings.Replace(keeps, `"expect"`, `"expekt"`, 1)
	if out := env.admin(t, true, "policy", "test", write("malformed.hujson", malformed)); !strings.Contains(out, "malformed.hujson:11:") ||
		!strings.Contains(out, `unknown field "expekt"`) {
		t.Errorf("policy test of a malformed file = %q, want malformed.hujson:11:…: unknown field \"expekt\"", out)
	}
	if after, err := env.Admin.PolicyExport(context.Background()); err != nil || after != before {
		t.Errorf("export after refused applies = %+v, %v; want it unchanged", after, err)
	}
	a.Decision("grafana", true, 2*time.Second)
	stream := a.OpenStream("grafana")

	loses := `{"name": "alice (eng) loses grafana", "user": "alice", "app": "grafana",
		"posture": {"disk_encryption": true, "firewall": true}, "expect": "deny", "reasons": ["policy.no_match"]}`
	good := write("good.hujson", loses)
	if out := env.admin(t, false, "policy", "test", good); !strings.Contains(out, "PASS  alice (eng) loses grafana") {
		t.Errorf("policy test = %q, want the test passing", out)
	}
	diff := env.admin(t, false, "policy", "diff", good)
	for _, want := range []string{"+ group ops (created)", "~ policy eng-grafana (changed)", `groups: ["eng"] → ["ops"]`} {
		if !strings.Contains(diff, want) {
			t.Errorf("policy diff = %q, want %q", diff, want)
		}
	}
	start := time.Now()
	if out := env.admin(t, false, "policy", "apply", good); !strings.Contains(out, "applied 2 change(s)") {
		t.Errorf("policy apply = %q, want 2 changes applied", out)
	}
	stream.AwaitEnd(t, 2*time.Second)
	t.Logf("apply → alice's open grafana flow cut in %v (CLI run included)", time.Since(start).Round(time.Millisecond))
	for _, v := range a.Apps() {
		if v.Name == "grafana" && v.Allowed {
			t.Errorf("alice's agent still shows grafana allowed after the apply: %+v", v)
		}
	}
}
