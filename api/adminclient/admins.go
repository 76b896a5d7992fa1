package adminclient

import (
	"context"
	"net/http"
	"net/url"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// Bootstrap creates the first owner with the bootstrap token (this
// client's) and returns it with an owner API token, shown once.
func (c *Client) Bootstrap(ctx context.Context, req api.BootstrapRequest) (api.BootstrapResponse, error) {
	var res api.BootstrapResponse
	return res, c.Do(ctx, http.MethodPost, api.PathBootstrap, req, &res)
}

// WithToken is a client of the same controller with another token.
func (c *Client) WithToken(token string) *Client {
	cp := *c
	cp.token, cp.session = token, nil
	return &cp
}

// Token is the token this client sends.
func (c *Client) Token() string { return c.token }

// userPath is PathUsers/name/action.
func userPath(name, action string) string {
	return api.PathUsers + "/" + url.PathEscape(name) + "/" + action
}

// SetPassword sets user's password; every session of the user ends.
func (c *Client) SetPassword(ctx context.Context, user, password string) error {
	return c.Do(ctx, http.MethodPut, userPath(user, api.UserPassword), api.PasswordRequest{Password: password}, nil)
}

// UserAction POSTs one of api.UserDisable, UserEnable, UserUnlock for user.
func (c *Client) UserAction(ctx context.Context, user, action string) error {
	return c.Do(ctx, http.MethodPost, userPath(user, action), nil, nil)
}

// SetRole gives user role ("" takes it away).
func (c *Client) SetRole(ctx context.Context, user, role string) error {
	return c.Do(ctx, http.MethodPut, userPath(user, api.UserRole), api.RoleRequest{Role: role}, nil)
}

// BeginTOTP starts a TOTP enrolment for user; the seed is shown once.
func (c *Client) BeginTOTP(ctx context.Context, user string) (api.TOTPEnrolment, error) {
	var e api.TOTPEnrolment
	return e, c.Do(ctx, http.MethodPost, userPath(user, api.UserTOTP), nil, &e)
}

// ConfirmTOTP confirms user's TOTP enrolment with a code made from it.
func (c *Client) ConfirmTOTP(ctx context.Context, user, code string) error {
	return c.Do(ctx, http.MethodPost, userPath(user, api.UserTOTPConfirm), api.TOTPConfirmRequest{Code: code}, nil)
}

// RemoveTOTP removes user's TOTP.
func (c *Client) RemoveTOTP(ctx context.Context, user string) error {
	return c.Do(ctx, http.MethodDelete, userPath(user, api.UserTOTP), nil, nil)
}

// DeviceAction POSTs api.DeviceApprove or DeviceBlock for device id.
func (c *Client) DeviceAction(ctx context.Context, id, action string) error {
	return c.Do(ctx, http.MethodPost, api.PathDevices+"/"+url.PathEscape(id)+"/"+action, nil, nil)
}

// LabelDevice sets device id's name and tags.
func (c *Client) LabelDevice(ctx context.Context, id string, req api.DeviceLabelRequest) error {
	return c.Do(ctx, http.MethodPut, api.PathDevices+"/"+url.PathEscape(id)+"/"+api.DeviceLabel, req, nil)
}

// AllSessions lists every user's sessions.
func (c *Client) AllSessions(ctx context.Context) ([]api.Session, error) {
	return List[api.Session](ctx, c, api.PathSessions)
}

// UserSessions lists user's sessions.
func (c *Client) UserSessions(ctx context.Context, user string) ([]api.Session, error) {
	return List[api.Session](ctx, c, api.PathSessions+"?"+url.Values{api.QueryUser: {user}}.Encode())
}

// RevokeSession ends session id.
func (c *Client) RevokeSession(ctx context.Context, id string) error {
	return c.Delete(ctx, api.PathSessions, id)
}

// RevokeUserSessions ends every session of user and says how many were live.
func (c *Client) RevokeUserSessions(ctx context.Context, user string) (int, error) {
	var r api.RevokedSessions
	err := c.Do(ctx, http.MethodDelete, api.PathSessions+"?"+url.Values{api.QueryUser: {user}}.Encode(), nil, &r)
	return r.Revoked, err
}

// CreateAPIToken issues an API token; its secret is in the answer only.
func (c *Client) CreateAPIToken(ctx context.Context, req api.APITokenRequest) (api.APIToken, error) {
	var t api.APIToken
	return t, c.Do(ctx, http.MethodPost, api.PathAPITokens, req, &t)
}

// RevokeAPIToken revokes API token id.
func (c *Client) RevokeAPIToken(ctx context.Context, id string) error {
	return c.Delete(ctx, api.PathAPITokens, id)
}

// Settings reads the controller's settings.
func (c *Client) Settings(ctx context.Context) (api.Settings, error) {
	var s api.Settings
	return s, c.Do(ctx, http.MethodGet, api.PathSettings, nil, &s)
}

// SetSettings replaces the controller's settings.
func (c *Client) SetSettings(ctx context.Context, s api.Settings) error {
	return c.Do(ctx, http.MethodPut, api.PathSettings, s, nil)
}
