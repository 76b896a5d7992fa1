// Package adminclient is a client of the controller's admin REST API, for
// `gatehouse admin`, the demo and tests.
//
// Imported by cmd/gatehouse, cmd/gatehouse-demo and tests; it imports only api.
package adminclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// Client calls one controller with one admin token.
type Client struct {
	base    string
	token   string
	session *Session // a signed-in admin's (session.go); nil with a token
	http    *http.Client
}

// New makes a client; caPEM, when set, is the only CA trusted. The URL
// must be https, or plain http to a controller on this machine: every
// request carries the admin token.
func New(baseURL, token string, caPEM []byte) (*Client, error) {
	if err := CheckURL(baseURL); err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if len(caPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, fmt.Errorf("CA file holds no PEM certificate")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), token: token,
		http: &http.Client{Transport: tr, Timeout: 30 * time.Second, CheckRedirect: checkRedirect}}, nil
}

// CheckURL applies api.CheckControllerURL, the agent's rule: https, plain
// http only to loopback, so the admin token never travels in clear.
func CheckURL(raw string) error {
	err := api.CheckControllerURL(raw)
	if errors.Is(err, api.ErrPlainHTTPOffLoopback) {
		return fmt.Errorf("%w: plain http would send the admin token in clear; use https:// (with --ca and the controller's ca.pem)", err)
	}
	return err
}

// checkRedirect follows a redirect only to a URL New would accept, and
// never from https down to http, which would carry the token in clear.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return fmt.Errorf("controller redirected %d times: check --controller", len(via))
	}
	if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return fmt.Errorf("controller redirected from https to %s: refused, it would send the admin token in clear; check --controller", req.URL.Redacted())
	}
	if err := CheckURL(req.URL.String()); err != nil {
		return fmt.Errorf("controller redirected to %s: refused: %w", req.URL.Redacted(), err)
	}
	return nil
}

// Error is a non-2xx answer.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("controller answered %d: %s", e.Status, e.Message) }

// Do sends in (if not nil) as JSON and decodes the answer into out (if not nil).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	var raw []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, raw = bytes.NewReader(b), b
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if c.session != nil {
		if err := c.session.authorize(ctx, c, req, raw); err != nil {
			return err
		}
	} else {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.send(req, out)
}

// send sends req and decodes a 2xx answer into out (if not nil); other
// answers are an *Error.
func (c *Client) send(req *http.Request, out any) error {
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("reach controller: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e api.ErrorResponse
		json.NewDecoder(resp.Body).Decode(&e)
		return &Error{Status: resp.StatusCode, Message: e.Error}
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return fmt.Errorf("malformed answer from controller: %w", err)
		}
	}
	return nil
}

// Create POSTs v to a collection path and replaces v with the stored object.
func Create[T any](ctx context.Context, c *Client, path string, v *T) error {
	return roundTrip(ctx, c, http.MethodPost, path, v)
}

// Update PUTs v at path/name and replaces v with the stored object.
func Update[T any](ctx context.Context, c *Client, path, name string, v *T) error {
	return roundTrip(ctx, c, http.MethodPut, path+"/"+url.PathEscape(name), v)
}

// roundTrip decodes the answer into a fresh value, so fields the server
// leaves out do not keep what the caller sent.
func roundTrip[T any](ctx context.Context, c *Client, method, path string, v *T) error {
	var stored T
	if err := c.Do(ctx, method, path, v, &stored); err != nil {
		return err
	}
	*v = stored
	return nil
}

// Get reads path/name.
func Get[T any](ctx context.Context, c *Client, path, name string) (T, error) {
	var v T
	return v, c.Do(ctx, http.MethodGet, path+"/"+url.PathEscape(name), nil, &v)
}

// List reads a collection.
func List[T any](ctx context.Context, c *Client, path string) ([]T, error) {
	var v []T
	return v, c.Do(ctx, http.MethodGet, path, nil, &v)
}

// Delete removes path/name.
func (c *Client) Delete(ctx context.Context, path, name string) error {
	return c.Do(ctx, http.MethodDelete, path+"/"+url.PathEscape(name), nil, nil)
}

// AddMember puts user in group.
func (c *Client) AddMember(ctx context.Context, group, user string) error {
	return c.Do(ctx, http.MethodPut, api.PathGroups+"/"+url.PathEscape(group)+"/members/"+url.PathEscape(user), nil, nil)
}

// RemoveMember takes user out of group.
func (c *Client) RemoveMember(ctx context.Context, group, user string) error {
	return c.Do(ctx, http.MethodDelete, api.PathGroups+"/"+url.PathEscape(group)+"/members/"+url.PathEscape(user), nil, nil)
}

// EnrollmentToken makes a single-use token for user.
func (c *Client) EnrollmentToken(ctx context.Context, user string, ttl time.Duration) (api.EnrollmentToken, error) {
	var t api.EnrollmentToken
	return t, c.Do(ctx, http.MethodPost, api.PathEnrollmentTokens, api.EnrollmentTokenRequest{User: user, TTL: api.Duration(ttl)}, &t)
}

// RevokeEnrollmentToken deletes the enrollment token with id, so that it
// cannot enroll a device any more.
func (c *Client) RevokeEnrollmentToken(ctx context.Context, id string) error {
	return c.Delete(ctx, api.PathEnrollmentTokens, id)
}

// RotateAdminToken replaces the admin token and returns the new one; this
// client (and every other holding the old token) stops working.
func (c *Client) RotateAdminToken(ctx context.Context) (string, error) {
	var t api.AdminToken
	if err := c.Do(ctx, http.MethodPost, api.PathAdminTokenRotate, nil, &t); err != nil {
		return "", err
	}
	return t.Token, nil
}
