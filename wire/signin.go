package wire

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// The agent's end of sign-in (RFC 8628): StartDeviceAuthorization asks
// for a code pair, the person approves it in the browser, PollToken waits
// for the tokens.

// maxSignInAnswer bounds what is read of a sign-in answer.
const maxSignInAnswer = 64 << 10

// slowDownStep is what RFC 8628 §3.5 adds to the interval on slow_down.
const slowDownStep = 5 * time.Second

// Errors PollToken ends with; test with errors.Is. Each is an *OAuthError
// carrying the controller's description.
var (
	// ErrAccessDenied: the person denied the device, or it may not have
	// the session (another user's device, a disabled user, a blocked
	// device); the description says which.
	ErrAccessDenied = errors.New("sign-in denied")
	// ErrCodeExpired: nobody approved the code in time: start again.
	ErrCodeExpired = errors.New("sign-in code expired")
)

// OAuthError is the controller refusing a sign-in request, in its words
// (Code is an api.OAuth* code).
type OAuthError struct {
	Status      int // HTTP status
	Code        string
	Description string
}

func (e *OAuthError) Error() string {
	if e.Description == "" {
		return fmt.Sprintf("sign-in refused: %s", e.Code)
	}
	return fmt.Sprintf("sign-in refused: %s: %s", e.Code, e.Description)
}

// Is makes errors.Is(err, ErrAccessDenied) and ErrCodeExpired hold.
func (e *OAuthError) Is(target error) bool {
	return target == ErrAccessDenied && e.Code == api.OAuthAccessDenied ||
		target == ErrCodeExpired && e.Code == api.OAuthExpiredToken
}

// DeviceAuthorizationForm is what a device sends to start signing in:
// DeviceID for an enrolled device, or DeviceKey (base64 Ed25519 public
// key) and Hostname for a new one, which the sign-in enrolls. ClientID is
// api.ClientAgent when empty; `gatehouse admin login` sends
// api.ClientAdmin with its own key (and no device).
type DeviceAuthorizationForm struct {
	ClientID  string
	DeviceID  string
	DeviceKey string
	Hostname  string
}

// StartDeviceAuthorization asks the controller at base (https://host:port)
// through hc (see HTTPClient) for a code pair. Show the person
// VerificationURIComplete (or VerificationURI and UserCode), then call
// PollToken with DeviceCode and Interval. A refusal is an *OAuthError.
func StartDeviceAuthorization(ctx context.Context, hc *http.Client, base string, form DeviceAuthorizationForm) (api.DeviceAuthorization, error) {
	v := url.Values{"client_id": {cmp.Or(form.ClientID, api.ClientAgent)}}
	for k, s := range map[string]string{api.FieldDeviceID: form.DeviceID, api.FieldDeviceKey: form.DeviceKey, api.FieldHostname: form.Hostname} {
		if s != "" {
			v.Set(k, s)
		}
	}
	var da api.DeviceAuthorization
	if err := postForm(ctx, hc, base, api.PathDeviceAuthorization, v, &da); err != nil {
		return da, err
	}
	if da.DeviceCode == "" || da.UserCode == "" || da.VerificationURI == "" || da.ExpiresIn <= 0 {
		return da, errors.New("controller sent a malformed device authorization: a code, the URL or the expiry is missing")
	}
	return da, nil
}

// PollToken polls the controller at base with deviceCode every interval
// seconds (at least 1; slow_down adds 5 s, as RFC 8628 says) until the
// person approves (the tokens), denies (ErrAccessDenied), the code
// expires (ErrCodeExpired) or ctx ends. Give ctx the code's expires_in as
// its deadline. Other refusals are *OAuthError; network errors are
// retried at the next poll until ctx ends.
func PollToken(ctx context.Context, hc *http.Client, base, deviceCode string, interval int) (api.TokenResponse, error) {
	return pollToken(ctx, hc, base, api.ClientAgent, deviceCode, interval, SleepCtx)
}

// Sleep waits d before the next poll, or ends the polling with an error
// (ctx ended, or the caller's own deadline passed).
type Sleep func(ctx context.Context, d time.Duration) error

// SleepCtx is the system clock's Sleep: d, or until ctx ends.
func SleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// PollTokenWith is PollToken on the caller's clock: sleep waits each
// interval, and its error ends the polling (wrapped, with the last
// network error).
func PollTokenWith(ctx context.Context, hc *http.Client, base, deviceCode string, interval int, sleep Sleep) (api.TokenResponse, error) {
	return pollToken(ctx, hc, base, api.ClientAgent, deviceCode, interval, sleep)
}

// PollTokenAs is PollToken for the client clientID (the one that started
// the authorization).
func PollTokenAs(ctx context.Context, hc *http.Client, base, clientID, deviceCode string, interval int) (api.TokenResponse, error) {
	return pollToken(ctx, hc, base, clientID, deviceCode, interval, SleepCtx)
}

// pollToken polls for clientID's tokens, sleep waiting each interval.
func pollToken(ctx context.Context, hc *http.Client, base, clientID, deviceCode string, interval int, sleep Sleep) (api.TokenResponse, error) {
	wait := max(time.Duration(interval)*time.Second, time.Second)
	v := url.Values{"grant_type": {api.GrantTypeDeviceCode}, "client_id": {clientID}, "device_code": {deviceCode}}
	var lastErr error
	for {
		if err := sleep(ctx, wait); err != nil {
			if lastErr != nil {
				return api.TokenResponse{}, fmt.Errorf("waiting for sign-in: %w (last: %v)", err, lastErr)
			}
			return api.TokenResponse{}, fmt.Errorf("waiting for sign-in: %w", err)
		}
		var tok api.TokenResponse
		err := postForm(ctx, hc, base, api.PathToken, v, &tok)
		oe, isOAuth := errors.AsType[*OAuthError](err)
		switch {
		case err == nil:
			if tok.AccessToken == "" || tok.RefreshToken == "" || tok.DeviceID == "" {
				return tok, errors.New("controller sent a malformed token answer: a token or the device ID is missing")
			}
			return tok, nil
		case isOAuth && oe.Code == api.OAuthAuthorizationPending:
		case isOAuth && oe.Code == api.OAuthSlowDown:
			wait += slowDownStep
		case isOAuth && oe.Status == http.StatusTooManyRequests:
			wait += slowDownStep
		case isOAuth && oe.Status >= 500:
			lastErr = err // the controller's trouble: poll again
		case isOAuth:
			return api.TokenResponse{}, err
		default:
			lastErr = err // the network or the controller's trouble: poll again
		}
	}
}

// postForm posts v form-encoded to base+path and decodes a 200 answer
// into resp; any other answer is an *OAuthError.
func postForm(ctx context.Context, hc *http.Client, base, path string, v url.Values, resp any) error {
	status, raw, err := post(ctx, hc, base, path, "application/x-www-form-urlencoded", strings.NewReader(v.Encode()), maxSignInAnswer)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		var e api.OAuthError
		if json.Unmarshal(raw, &e) != nil || e.Error == "" {
			// Not an OAuth answer (a rate limit, a proxy): keep its text.
			var plain api.ErrorResponse
			json.Unmarshal(raw, &plain)
			e = api.OAuthError{Error: strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "_")), Description: plain.Error}
		}
		return &OAuthError{Status: status, Code: e.Error, Description: e.Description}
	}
	if err := json.Unmarshal(raw, resp); err != nil {
		return fmt.Errorf("controller sent a malformed sign-in answer: %w", err)
	}
	return nil
}
