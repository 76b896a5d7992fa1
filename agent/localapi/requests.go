package localapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// RequestAccess asks for just-in-time access to in.App; the answer is the
// request as the controller stored it (pending), or its refusal.
func (c *Client) RequestAccess(ctx context.Context, in api.AccessRequestInput) (api.AccessRequest, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return api.AccessRequest{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://agent"+PathRequest, bytes.NewReader(body))
	if err != nil {
		return api.AccessRequest{}, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return api.AccessRequest{}, fmt.Errorf("agent is not answering (is gatehouse-agent running?): %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
		return api.AccessRequest{}, fmt.Errorf("%s", strings.TrimSpace(string(msg)))
	}
	var r api.AccessRequest
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return api.AccessRequest{}, fmt.Errorf("agent sent a malformed answer for %s: %w", PathRequest, err)
	}
	return r, nil
}
