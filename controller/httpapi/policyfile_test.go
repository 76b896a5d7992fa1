package httpapi

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// TestPolicyFileOverHTTP: the policy endpoints answer by role (auditor
// and helpdesk read-only or nothing), refuse a file over the limit with
// 413/400 before parsing it, a malformed file with 400 at its line, and
// a stale plan with 409 naming the fix.
func TestPolicyFileOverHTTP(t *testing.T) {
	w := newRoleWorld(t)
	ctx := context.Background()
	exp, err := w.owner.PolicyExport(ctx)
	if err != nil {
		t.Fatalf("PolicyExport as owner = %v", err)
	}
	if _, err := w.as["auditor"].PolicyExport(ctx); err != nil {
		t.Errorf("PolicyExport as auditor = %v, want allowed", err)
	}
	plan, err := w.as["auditor"].PolicyPlan(ctx, "live.hujson", exp.Source)
	if err != nil || len(plan.Changes) != 0 || plan.Version != exp.Version {
		t.Errorf("PolicyPlan(export) as auditor = %+v, %v; want no changes at version %s", plan, err, exp.Version)
	}
	_, err = w.as["auditor"].PolicyApply(ctx, "live.hujson", exp.Source, exp.Version)
	wantStatus(t, "PolicyApply as auditor", err, http.StatusForbidden, "auditor")
	_, err = w.as["helpdesk"].PolicyExport(ctx)
	wantStatus(t, "PolicyExport as helpdesk", err, http.StatusForbidden)

	huge := strings.Repeat(" ", api.MaxPolicyFileBytes+1)
	_, err = w.owner.PolicyPlan(ctx, "huge.hujson", huge)
	wantStatus(t, "PolicyPlan(huge file)", err, http.StatusBadRequest, "at most")
	_, err = w.owner.PolicyPlan(ctx, "huger.hujson", strings.Repeat(`"`, 2<<20))
	wantStatus(t, "PolicyPlan(body over the cap)", err, http.StatusRequestEntityTooLarge)

	_, err = w.owner.PolicyPlan(ctx, "bad.hujson", "{\n\t\"apps\": [{\"nme\": \"x\"}],\n}")
	wantStatus(t, "PolicyPlan(unknown field)", err, http.StatusBadRequest, `bad.hujson:2:12: unknown field "nme"`)

	// A client that skips the plan (and its tests) is refused all the
	// same: apply runs the tests on the controller.
	failing := strings.Replace(exp.Source, `"tests": [`, `"tests": [{"name": "alice gets grafana", "user": "alice", "app": "grafana", "expect": "allow"},`, 1)
	_, err = w.owner.PolicyApply(ctx, "failing.hujson", failing, exp.Version)
	wantStatus(t, "PolicyApply(a failing test)", err, http.StatusBadRequest, "alice gets grafana", "nothing was applied")
	if now, err := w.owner.PolicyExport(ctx); err != nil || now != exp {
		t.Errorf("PolicyExport after a refused apply = %+v, %v; want %+v", now, err, exp)
	}

	mustCreate(t, w.owner, api.PathApps, api.App{Name: "wiki", Upstreams: []string{"127.0.0.1:8080"}})
	_, err = w.owner.PolicyApply(ctx, "live.hujson", exp.Source, exp.Version)
	wantStatus(t, "PolicyApply(stale version)", err, http.StatusConflict, "policy diff")
	if _, err := w.owner.PolicyExport(ctx); err != nil {
		t.Fatal(err)
	}
	mustGet[api.App](t, w.owner, api.PathApps, "wiki") // the stale apply deleted nothing
}
