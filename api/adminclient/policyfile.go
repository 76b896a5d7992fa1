package adminclient

import (
	"context"
	"net/http"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// PolicyExport reads the live policy as a policy file.
func (c *Client) PolicyExport(ctx context.Context) (api.PolicyExport, error) {
	var e api.PolicyExport
	return e, c.Do(ctx, http.MethodGet, api.PathPolicyExport, nil, &e)
}

// PolicyPlan asks what applying the file (name, source) would change, and
// runs its tests; nothing changes.
func (c *Client) PolicyPlan(ctx context.Context, name, source string) (api.PolicyPlan, error) {
	var p api.PolicyPlan
	return p, c.Do(ctx, http.MethodPost, api.PathPolicyPlan, api.PolicyFileRequest{Name: name, Source: source}, &p)
}

// PolicyApply applies the file if its tests pass and the live policy is
// still at version (a plan's).
func (c *Client) PolicyApply(ctx context.Context, name, source, version string) (api.PolicyPlan, error) {
	var p api.PolicyPlan
	return p, c.Do(ctx, http.MethodPost, api.PathPolicyApply, api.PolicyFileRequest{Name: name, Source: source, Version: version}, &p)
}
