package controller

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
)

// policyFile is a file giving eng (alice) grafana, with tests.
const policyFile = `{
	// eng gets grafana with disk encryption
	"groups": [{"name": "eng", "members": ["alice"]}],
	"apps": [{"name": "grafana", "upstreams": ["127.0.0.1:3000"]}],
	"posture_profiles": [{"name": "secure", "disk_encryption": true}],
	"policies": [{"name": "eng-grafana", "groups": ["eng"], "apps": ["grafana"], "posture_profiles": ["secure"]}],
	"exceptions": [],
	"tests": [
		{"name": "alice without disk encryption cannot reach grafana", "user": "alice", "app": "grafana",
		 "posture": {"disk_encryption": false}, "expect": "deny", "reasons": ["posture.disk_encryption"]},
		{"name": "alice with disk encryption reaches grafana", "user": "alice", "app": "grafana",
		 "posture": {"disk_encryption": true}, "expect": "allow"},
	],
}`

func newPolicyCore(t *testing.T) *Controller {
	t.Helper()
	c := newCore(t)
	if _, _, err := c.Users.Create(context.Background(), testOwner, api.User{Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	return c
}

func applyFile(t *testing.T, c *Controller, who Actor, src string) (api.PolicyPlan, error) {
	t.Helper()
	ctx := context.Background()
	plan, err := c.PolicyFile.Plan(ctx, who, api.PolicyFileRequest{Name: "policy.hujson", Source: src})
	if err != nil {
		return plan, err
	}
	plan, _, err = c.PolicyFile.Apply(ctx, who, api.PolicyFileRequest{Name: "policy.hujson", Source: src, Version: plan.Version})
	return plan, err
}

func exportNow(t *testing.T, c *Controller) api.PolicyExport {
	t.Helper()
	e, err := c.PolicyFile.Export(context.Background(), testOwner)
	if err != nil {
		t.Fatalf("Export = %v", err)
	}
	return e
}

// TestPolicyFileApplyRunsTests: a file whose test fails is refused and
// changes nothing; fixed, it applies, and the engine decides by it.
func TestPolicyFileApplyRunsTests(t *testing.T) {
	c := newPolicyCore(t)
	before := exportNow(t, c)
	failing := strings.Replace(policyFile, `"disk_encryption": true}]`, `"firewall": true}]`, 1)
	_, err := applyFile(t, c, testOwner, failing)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "alice without disk encryption cannot reach grafana") ||
		!strings.Contains(err.Error(), "nothing was applied") {
		t.Fatalf("Apply(file with a failing test) = %v, want ErrInvalid naming the test", err)
	}
	if after := exportNow(t, c); after != before {
		t.Errorf("Export after a refused apply = %+v, want it unchanged: %+v", after, before)
	}
	plan, err := applyFile(t, c, testOwner, policyFile)
	if err != nil || !plan.Applied || len(plan.Changes) != 4 {
		t.Fatalf("Apply(good file) = %+v, %v; want 4 changes applied", plan, err)
	}
	if e := exportNow(t, c); e.Version != plan.NewVersion {
		t.Errorf("Export().Version after apply = %s, want the plan's new version %s", e.Version, plan.NewVersion)
	}
	good := &api.PostureReport{DiskEncryption: api.KnownBool(true)}
	c.mu.Lock()
	snap := c.snap
	c.mu.Unlock()
	if d := snap.Decide("alice", good, "grafana", time.Now()); !d.Allowed {
		t.Errorf("decision after apply = %+v, want alice allowed grafana", d)
	}
}

// TestPolicyFileExportApplyIsNoOp: export → plan shows nothing, and
// applying it changes nothing.
func TestPolicyFileExportApplyIsNoOp(t *testing.T) {
	c := newPolicyCore(t)
	if _, err := applyFile(t, c, testOwner, policyFile); err != nil {
		t.Fatal(err)
	}
	e := exportNow(t, c)
	plan, err := applyFile(t, c, testOwner, e.Source)
	if err != nil || len(plan.Changes) != 0 {
		t.Errorf("Apply(export) = %+v, %v; want no changes\n%s", plan, err, e.Source)
	}
	if again := exportNow(t, c); again != e {
		t.Errorf("Export after applying the export = %q, want %q", again.Source, e.Source)
	}
}

// TestPolicyFileApplyRefusesAStalePlan: a change between plan and apply
// makes apply refuse (ErrConflict), changing nothing.
func TestPolicyFileApplyRefusesAStalePlan(t *testing.T) {
	c := newPolicyCore(t)
	ctx := context.Background()
	plan, err := c.PolicyFile.Plan(ctx, testOwner, api.PolicyFileRequest{Source: policyFile})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Apps.Create(ctx, testOwner, api.App{Name: "wiki", Upstreams: []string{"127.0.0.1:8080"}}); err != nil {
		t.Fatal(err)
	}
	before := exportNow(t, c)
	_, _, err = c.PolicyFile.Apply(ctx, testOwner, api.PolicyFileRequest{Source: policyFile, Version: plan.Version})
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "policy diff") {
		t.Errorf("Apply(stale version) = %v, want ErrConflict saying to diff again", err)
	}
	if after := exportNow(t, c); after != before {
		t.Errorf("Export after a refused apply changed")
	}
	if _, _, err := c.PolicyFile.Apply(ctx, testOwner, api.PolicyFileRequest{Source: policyFile}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Apply(no version) = %v, want ErrInvalid", err)
	}
}

// TestPolicyFileRoles: an auditor may export and plan, not apply.
func TestPolicyFileRoles(t *testing.T) {
	c := newPolicyCore(t)
	auditor := Actor{Kind: ActorAPIToken, Name: "audit", Role: identity.Auditor}
	if _, err := c.PolicyFile.Export(context.Background(), auditor); err != nil {
		t.Errorf("Export as auditor = %v, want it allowed", err)
	}
	if _, err := applyFile(t, c, auditor, policyFile); !errors.Is(err, ErrForbidden) {
		t.Errorf("Apply as auditor = %v, want ErrForbidden", err)
	}
	if _, err := c.PolicyFile.Export(context.Background(), Actor{}); !errors.Is(err, ErrForbidden) {
		t.Errorf("Export as nobody = %v, want ErrForbidden", err)
	}
}

// TestPolicyFileCheckErrorsAtTheirLine: the admin API's checks and the
// users that must exist report at the object's line.
func TestPolicyFileCheckErrorsAtTheirLine(t *testing.T) {
	c := newPolicyCore(t)
	for _, tt := range []struct{ name, src, want string }{
		{"unknown user", strings.Replace(policyFile, `["alice"]`, `["alice", "zed"]`, 1), `policy.hujson:3:50: group "eng": member "zed": there is no user "zed"`},
		{"bad upstream", strings.Replace(policyFile, `127.0.0.1:3000`, `nohostport`, 1), `policy.hujson:4:11: app "grafana": upstream "nohostport" is not host:port`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.PolicyFile.Plan(context.Background(), testOwner, api.PolicyFileRequest{Name: "policy.hujson", Source: tt.src})
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Plan(%s) = %v, want ErrInvalid with %q", tt.name, err, tt.want)
			}
		})
	}
}

// TestPolicyFileConcurrentApplies: two admins apply different files
// planned against the same version at once: one wins, the other is told
// the policy moved.
func TestPolicyFileConcurrentApplies(t *testing.T) {
	c := newPolicyCore(t)
	ctx := context.Background()
	files := []string{policyFile, strings.Replace(policyFile, "127.0.0.1:3000", "127.0.0.1:3001", 1)}
	plan, err := c.PolicyFile.Plan(ctx, testOwner, api.PolicyFileRequest{Source: files[0]})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, len(files))
	for _, src := range files {
		go func() {
			_, _, err := c.PolicyFile.Apply(ctx, testOwner, api.PolicyFileRequest{Source: src, Version: plan.Version})
			errs <- err
		}()
	}
	var won, conflicts int
	for range files {
		switch err := <-errs; {
		case err == nil:
			won++
		case errors.Is(err, ErrConflict):
			conflicts++
		default:
			t.Errorf("Apply = %v, want success or ErrConflict", err)
		}
	}
	if won != 1 || conflicts != 1 {
		t.Errorf("concurrent applies: %d won, %d conflicts; want 1 and 1", won, conflicts)
	}
	if app, err := c.Apps.Get(ctx, testOwner, "grafana"); err != nil || len(app.Upstreams) != 1 {
		t.Errorf("Apps.Get(grafana) after the race = %+v, %v; want the winner's one upstream", app, err)
	}
}

// TestPolicyFileExceptions: a file's exception waives a check in the
// file's own tests and, once applied, live; export → apply stays a no-op
// with it (its record of who made it and when is the store's); a new
// exception already expired is refused at its line.
func TestPolicyFileExceptions(t *testing.T) {
	c := newPolicyCore(t)
	until := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	waived := strings.Replace(policyFile, `"exceptions": [],`, `"exceptions": [{"id": "de-alice", "user": "alice",
		"checks": ["disk_encryption"], "owner": "it-sec", "reason": "new laptop on order", "expires_at": "`+until+`"}],`, 1)
	waived = strings.Replace(waived, `"expect": "deny", "reasons": ["posture.disk_encryption"]`, `"expect": "allow"`, 1)
	if _, err := applyFile(t, c, testOwner, policyFile); err != nil {
		t.Fatal(err)
	}
	if _, err := applyFile(t, c, testOwner, waived); err != nil {
		t.Fatalf("Apply(file whose exception waives the failing check) = %v", err)
	}
	c.mu.Lock()
	snap := c.snap
	c.mu.Unlock()
	bare := &api.PostureReport{DiskEncryption: api.KnownBool(false)}
	if d := snap.Decide("alice", bare, "grafana", time.Now()); !d.Allowed {
		t.Errorf("live decision with the file's exception = %+v, want alice allowed (disk encryption waived)", d)
	}
	e := exportNow(t, c)
	if !strings.Contains(e.Source, `"de-alice"`) {
		t.Fatalf("export lacks the exception:\n%s", e.Source)
	}
	if plan, err := applyFile(t, c, testOwner, e.Source); err != nil || len(plan.Changes) != 0 {
		t.Errorf("Apply(export with an exception) = %+v, %v; want no changes", plan, err)
	}
	expired := strings.Replace(waived, `"id": "de-alice"`, `"id": "de-alice-2"`, 1)
	expired = strings.Replace(expired, until, "2020-01-01T00:00:00Z", 1)
	if _, err := applyFile(t, c, testOwner, expired); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "policy.hujson:7:") ||
		!strings.Contains(err.Error(), "has passed") {
		t.Errorf("Apply(a new exception already expired) = %v, want ErrInvalid at line 7 saying the expiry has passed", err)
	}
	if again := exportNow(t, c); again != e {
		t.Errorf("export after a refused apply changed:\n%s\nwant\n%s", again.Source, e.Source)
	}
}
