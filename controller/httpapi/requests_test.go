package httpapi

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
)

// TestAccessRequestsBySignedInApprover: over the admin REST API, a person
// signed in with `gatehouse admin login` who is in the policy's approvers
// group lists and approves a request (the record names them); a signed-in
// admin outside the group is refused (403) and changes nothing; a request
// that does not exist is 404, and a decided one 409.
func TestAccessRequestsBySignedInApprover(t *testing.T) {
	e := newAdminEnv(t)
	core := e.tc.core
	ctx := context.Background()
	if _, _, err := core.Apps.Create(ctx, testOwner, api.App{Name: "db", Upstreams: []string{"127.0.0.1:5432"}}); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"eng", "dba"} {
		if _, _, err := core.Groups.Create(ctx, testOwner, api.Group{Name: g}); err != nil {
			t.Fatal(err)
		}
	}
	annSecret := e.addAdmin(t, "ann", identity.Auditor, true)
	zedSecret := e.addAdmin(t, "zed", identity.Admin, true)
	for _, m := range [][2]string{{"eng", "alice"}, {"dba", "ann"}} {
		if _, err := core.Members.Add(ctx, testOwner, m[0], m[1]); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := core.Policies.Create(ctx, testOwner, api.Policy{Name: "db-jit", Groups: []string{"eng"}, Apps: []string{"db"}, Approvers: "dba"}); err != nil {
		t.Fatal(err)
	}
	req, err := core.Requests.Request(ctx, controller.Requester{User: "alice", Device: "d1"}, api.AccessRequestInput{App: "db", Reason: "migration", For: api.Duration(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	ann, _, _ := e.adminLogin(t, "ann", annSecret)
	zed, _, _ := e.adminLogin(t, "zed", zedSecret)

	pending, err := ann.AccessRequests(ctx, api.RequestPending)
	if err != nil || len(pending) != 1 || pending[0].ID != req.ID {
		t.Fatalf("ann lists pending = %+v, %v, want alice's request", pending, err)
	}
	_, err = zed.ApproveAccessRequest(ctx, req.ID, api.AccessDecisionInput{})
	wantStatus(t, "zed (admin, not in dba) approves", err, http.StatusForbidden, "not a member of dba")
	_, err = ann.ApproveAccessRequest(ctx, "req_nope", api.AccessDecisionInput{})
	wantStatus(t, "approve an unknown request", err, http.StatusNotFound)
	got, err := ann.ApproveAccessRequest(ctx, req.ID, api.AccessDecisionInput{For: api.Duration(30 * time.Minute), Note: "ok"})
	if err != nil || got.State != api.RequestApproved || got.DecidedBy != "user:ann" || time.Duration(got.Granted) != 30*time.Minute {
		t.Fatalf("ann approves = %+v, %v, want approved by user:ann for 30m", got, err)
	}
	_, err = ann.DenyAccessRequest(ctx, req.ID, api.AccessDecisionInput{Note: "changed my mind"})
	wantStatus(t, "deny an approved request", err, http.StatusConflict, "approved already")
}
