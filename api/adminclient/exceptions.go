package adminclient

import (
	"context"
	"net/http"
	"net/url"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// CreateException stores e and returns it as the controller stored it
// (with its ID).
func (c *Client) CreateException(ctx context.Context, e api.Exception) (api.Exception, error) {
	var out api.Exception
	return out, c.Do(ctx, http.MethodPost, api.PathExceptions, e, &out)
}

// Exceptions lists every exception, expired ones too.
func (c *Client) Exceptions(ctx context.Context) ([]api.Exception, error) {
	return List[api.Exception](ctx, c, api.PathExceptions)
}

// DeleteException deletes exception id; the checks it waived count again
// at once.
func (c *Client) DeleteException(ctx context.Context, id string) error {
	return c.Delete(ctx, api.PathExceptions, id)
}

// Explain asks how the controller decides app for device (acting for
// user; "" is the device's owner).
func (c *Client) Explain(ctx context.Context, user, device, app string) (api.Explanation, error) {
	q := url.Values{api.QueryDevice: {device}, api.QueryApp: {app}}
	if user != "" {
		q.Set(api.QueryUser, user)
	}
	var out api.Explanation
	return out, c.Do(ctx, http.MethodGet, api.PathExplain+"?"+q.Encode(), nil, &out)
}
