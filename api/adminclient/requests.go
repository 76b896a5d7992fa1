package adminclient

import (
	"context"
	"net/http"
	"net/url"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// AccessRequests lists just-in-time access requests in state ("" for all),
// newest first.
func (c *Client) AccessRequests(ctx context.Context, state string) ([]api.AccessRequest, error) {
	path := api.PathAccessRequests
	if state != "" {
		path += "?state=" + url.QueryEscape(state)
	}
	return List[api.AccessRequest](ctx, c, path)
}

// ApproveAccessRequest approves request id (for in.For when set: less than
// was asked).
func (c *Client) ApproveAccessRequest(ctx context.Context, id string, in api.AccessDecisionInput) (api.AccessRequest, error) {
	return c.decideAccessRequest(ctx, id, "approve", in)
}

// DenyAccessRequest denies request id; in.Note says why.
func (c *Client) DenyAccessRequest(ctx context.Context, id string, in api.AccessDecisionInput) (api.AccessRequest, error) {
	return c.decideAccessRequest(ctx, id, "deny", in)
}

// RevokeAccessRequest ends request id's approved access early; in.Note
// says why.
func (c *Client) RevokeAccessRequest(ctx context.Context, id string, in api.AccessDecisionInput) (api.AccessRequest, error) {
	return c.decideAccessRequest(ctx, id, "revoke", in)
}

func (c *Client) decideAccessRequest(ctx context.Context, id, verb string, in api.AccessDecisionInput) (api.AccessRequest, error) {
	var r api.AccessRequest
	return r, c.Do(ctx, http.MethodPost, api.PathAccessRequests+"/"+url.PathEscape(id)+"/"+verb, in, &r)
}
