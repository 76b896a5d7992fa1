package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// maxEnrollAnswer bounds what is read of the controller's enrollment
// answer.
const maxEnrollAnswer = 64 << 10

// RefusedEnrollmentError is the controller refusing an enrollment (a used,
// expired or unknown token, or one of the other kind), in its own words.
type RefusedEnrollmentError struct {
	Status  string // "403 Forbidden"
	Message string // the controller's error text
}

func (e *RefusedEnrollmentError) Error() string {
	return fmt.Sprintf("enrollment refused (%s): %s", e.Status, e.Message)
}

// EnrollDevice spends a device enrollment token: it registers req's device
// key with the controller at base (https://host:port) through hc (see
// HTTPClient) and returns the device's ID and user. A refusal is a
// *RefusedEnrollmentError. Device and gateway enrollments are two
// functions over two request types and two paths, so one kind of token
// is never sent where the other is expected.
func EnrollDevice(ctx context.Context, hc *http.Client, base string, req api.EnrollRequest) (api.EnrollResponse, error) {
	var resp api.EnrollResponse
	if err := postEnrollment(ctx, hc, base, api.PathEnroll, req, &resp); err != nil {
		return resp, err
	}
	if resp.DeviceID == "" {
		return resp, errors.New("controller sent a malformed enrollment answer: no device ID")
	}
	return resp, nil
}

// EnrollGateway spends a gateway enrollment token, as EnrollDevice does a
// device's, and returns the gateway's ID and name.
func EnrollGateway(ctx context.Context, hc *http.Client, base string, req api.GatewayEnrollRequest) (api.GatewayEnrollResponse, error) {
	var resp api.GatewayEnrollResponse
	if err := postEnrollment(ctx, hc, base, api.GatewayEnrollPath, req, &resp); err != nil {
		return resp, err
	}
	if resp.GatewayID == "" {
		return resp, errors.New("controller sent a malformed enrollment answer: no gateway ID")
	}
	return resp, nil
}

// postEnrollment posts req as JSON to base+path and decodes a 2xx answer
// into resp.
func postEnrollment(ctx context.Context, hc *http.Client, base, path string, req, resp any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	status, raw, err := post(ctx, hc, base, path, "application/json", bytes.NewReader(body), maxEnrollAnswer)
	if err != nil {
		return err
	}
	if status != http.StatusOK && status != http.StatusCreated {
		var e api.ErrorResponse
		json.Unmarshal(raw, &e) // a body that is not an ErrorResponse leaves the message empty
		return &RefusedEnrollmentError{Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), Message: e.Error}
	}
	if err := json.Unmarshal(raw, resp); err != nil {
		return fmt.Errorf("controller sent a malformed enrollment answer: %w", err)
	}
	return nil
}

// post sends body (of contentType) to base+path and returns the answer's
// status and at most limit bytes of its body.
func post(ctx context.Context, hc *http.Client, base, path, contentType string, body io.Reader, limit int64) (int, []byte, error) {
	base = strings.TrimRight(base, "/")
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, body)
	if err != nil {
		return 0, nil, fmt.Errorf("controller URL %q: %w", base, err)
	}
	r.Header.Set("Content-Type", contentType)
	r.Header.Set("Accept", "application/json")
	res, err := hc.Do(r)
	if err != nil {
		return 0, nil, fmt.Errorf("reach controller at %s: %w", base, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, limit))
	if err != nil {
		return 0, nil, fmt.Errorf("read the controller's answer to %s: %w", path, err)
	}
	return res.StatusCode, raw, nil
}
