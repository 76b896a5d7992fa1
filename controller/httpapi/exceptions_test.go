package httpapi

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// TestAdminExceptionsAndExplain: exceptions are created, listed and
// deleted over REST, bad ones are 400 and unknown targets 404; explain
// answers for a known device and app and says what is unknown.
func TestAdminExceptionsAndExplain(t *testing.T) {
	_, admin, _ := startAdminController(t, t.TempDir())
	ctx := context.Background()
	mustCreate(t, admin, api.PathUsers, api.User{Name: "alice", Groups: []string{"eng"}})
	mustCreate(t, admin, api.PathApps, api.App{Name: "grafana", Upstreams: []string{"127.0.0.1:3000"}})

	e, err := admin.CreateException(ctx, api.Exception{User: "alice", Checks: []string{"firewall"}, Owner: "it-sec",
		Reason: "vendor VPN", ExpiresAt: time.Now().Add(72 * time.Hour)})
	if err != nil || e.ID == "" || e.CreatedBy == "" {
		t.Fatalf("CreateException = %+v, %v; want it stored with an ID and its creator", e, err)
	}
	_, err = admin.CreateException(ctx, api.Exception{User: "alice", Checks: []string{"firewall"}, Owner: "it-sec", Reason: "r",
		ExpiresAt: time.Now().Add(100 * 24 * time.Hour)})
	wantStatus(t, "CreateException(100 days)", err, http.StatusBadRequest, "at most 90 days")
	_, err = admin.CreateException(ctx, api.Exception{User: "zed", Checks: []string{"firewall"}, Owner: "it-sec", Reason: "r",
		ExpiresAt: time.Now().Add(time.Hour)})
	wantStatus(t, "CreateException(unknown user)", err, http.StatusNotFound, "no user zed")
	if list, err := admin.Exceptions(ctx); err != nil || len(list) != 1 || list[0].ID != e.ID {
		t.Errorf("Exceptions() = %+v, %v; want the one created", list, err)
	}

	_, err = admin.Explain(ctx, "", "nope", "grafana")
	wantStatus(t, "Explain(unknown device)", err, http.StatusNotFound, "no device nope")
	_, err = admin.Explain(ctx, "", "", "grafana")
	wantStatus(t, "Explain(no device)", err, http.StatusBadRequest, "--device")

	if err := admin.DeleteException(ctx, e.ID); err != nil {
		t.Fatalf("DeleteException(%s) = %v", e.ID, err)
	}
	wantStatus(t, "DeleteException again", admin.DeleteException(ctx, e.ID), http.StatusNotFound)
}
