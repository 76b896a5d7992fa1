package controlclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// The client end of the OAuth 2.0 device authorization grant (RFC 8628)
// that `gatehouse login` runs through the agent. Each call is one HTTPS
// exchange; the polling schedule is the caller's (it owns the clock).
// TODO(lead): h8-signin adds wire.StartDeviceAuthorization/PollToken for
// the same exchange; keep one of the two.

// maxOAuthAnswer bounds what is read of an answer.
const maxOAuthAnswer = 64 << 10

// DefaultPollInterval is RFC 8628's interval when the answer names none.
const DefaultPollInterval = 5

// OAuthError is the controller refusing a device authorization or a
// token poll with an OAuth error code (api.OAuthAuthorizationPending,
// api.OAuthSlowDown, …).
type OAuthError struct {
	Status      string // "400 Bad Request"
	Code        string // api.OAuthSlowDown, …
	Description string
}

func (e *OAuthError) Error() string {
	if e.Description != "" {
		return fmt.Sprintf("controller refused (%s): %s", e.Code, e.Description)
	}
	return fmt.Sprintf("controller refused (%s, %s)", e.Code, e.Status)
}

// StartDeviceAuthorization asks the controller at base for a user code:
// form carries client_id and either device_id (an enrolled device) or
// device_key and hostname (a device this sign-in enrolls).
func StartDeviceAuthorization(ctx context.Context, hc *http.Client, base string, form url.Values) (api.DeviceAuthorization, error) {
	var da api.DeviceAuthorization
	if err := postForm(ctx, hc, base, api.PathDeviceAuthorization, form, &da); err != nil {
		return da, fmt.Errorf("start sign-in: %w", err)
	}
	if da.DeviceCode == "" || da.UserCode == "" || da.VerificationURI == "" || da.ExpiresIn <= 0 {
		return da, errors.New("start sign-in: the controller sent a malformed device authorization (no code, page or lifetime)")
	}
	if da.Interval <= 0 {
		da.Interval = DefaultPollInterval
	}
	return da, nil
}

// PollToken asks once whether the user finished signing in for
// deviceCode. Still waiting is an *OAuthError (authorization_pending or
// slow_down), as are the final refusals.
func PollToken(ctx context.Context, hc *http.Client, base, deviceCode string) (api.TokenResponse, error) {
	var tr api.TokenResponse
	form := url.Values{"grant_type": {api.GrantTypeDeviceCode}, "device_code": {deviceCode}, "client_id": {api.ClientAgent}}
	if err := postForm(ctx, hc, base, api.PathToken, form, &tr); err != nil {
		return tr, err
	}
	if tr.AccessToken == "" || tr.RefreshToken == "" || tr.ExpiresIn <= 0 || tr.DeviceID == "" {
		return api.TokenResponse{}, errors.New("the controller sent a malformed token answer (no tokens, lifetime or device)")
	}
	return tr, nil
}

// postForm posts form to base+path and decodes a 200 answer into v; a
// 4xx with an OAuth error body is an *OAuthError.
func postForm(ctx context.Context, hc *http.Client, base, path string, form url.Values, v any) error {
	base = strings.TrimRight(base, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("controller URL %q: %w", base, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	res, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("reach controller at %s: %w", base, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxOAuthAnswer))
	if err != nil {
		return fmt.Errorf("read the controller's answer: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		var oe api.OAuthError
		if json.Unmarshal(raw, &oe) != nil || oe.Error == "" {
			return fmt.Errorf("controller answered %s at %s (is it a Gatehouse controller with sign-in?)", res.Status, path)
		}
		return &OAuthError{Status: res.Status, Code: oe.Error, Description: oe.Description}
	}
	if err := json.Unmarshal(raw, v); err != nil {
		// Not the JSON error: it could quote a token.
		return fmt.Errorf("the controller sent a malformed answer at %s", path)
	}
	return nil
}
