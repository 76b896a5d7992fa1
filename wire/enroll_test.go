package wire_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/wire"
)

// TestEnroll: each kind of enrollment posts its own request to its own
// path only, takes a 2xx answer naming the new device or gateway, and
// turns anything else into an error that says what the controller said.
func TestEnroll(t *testing.T) {
	device := func(ctx context.Context, base string) (string, error) {
		r, err := wire.EnrollDevice(ctx, http.DefaultClient, base, api.EnrollRequest{Token: "ghe_dev", PublicKey: "pk", Hostname: "laptop"})
		return r.DeviceID + "/" + r.User, err
	}
	gateway := func(ctx context.Context, base string) (string, error) {
		r, err := wire.EnrollGateway(ctx, http.DefaultClient, base, api.GatewayEnrollRequest{Token: "ghg_gw", PublicKey: "pk"})
		return r.GatewayID + "/" + r.Name, err
	}
	tests := []struct {
		name     string
		enroll   func(context.Context, string) (string, error)
		path     string // where the fake controller answers; elsewhere 404
		status   int
		answer   string
		wantBody string // in what the controller received
		want     string
		wantErr  string
		refused  bool
	}{
		{name: "device", enroll: device, path: api.PathEnroll, status: 200, answer: `{"device_id":"d1","user":"alice"}`,
			wantBody: `"token":"ghe_dev"`, want: "d1/alice"},
		{name: "gateway", enroll: gateway, path: api.GatewayEnrollPath, status: 201, answer: `{"gateway_id":"g1","name":"site-a"}`,
			wantBody: `"token":"ghg_gw"`, want: "g1/site-a"},
		{name: "device at the gateway's path only", enroll: device, path: api.GatewayEnrollPath, status: 200,
			answer: `{"device_id":"d1"}`, wantErr: "enrollment refused (404 Not Found)", refused: true},
		{name: "gateway at the device's path only", enroll: gateway, path: api.PathEnroll, status: 200,
			answer: `{"gateway_id":"g1"}`, wantErr: "enrollment refused (404 Not Found)", refused: true},
		{name: "refused", enroll: device, path: api.PathEnroll, status: 403,
			answer:  `{"error":"enrollment token unknown: ask an admin for a new enrollment token"}`,
			wantErr: "enrollment refused (403 Forbidden): enrollment token unknown: ask an admin for a new enrollment token", refused: true},
		{name: "device answer without an ID", enroll: device, path: api.PathEnroll, status: 200, answer: `{"user":"alice"}`,
			wantErr: "malformed enrollment answer: no device ID"},
		{name: "gateway answer without an ID", enroll: gateway, path: api.GatewayEnrollPath, status: 200, answer: `{"name":"x"}`,
			wantErr: "malformed enrollment answer: no gateway ID"},
		{name: "answer not JSON", enroll: gateway, path: api.GatewayEnrollPath, status: 200, answer: `<html>`,
			wantErr: "malformed enrollment answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan string, 1)
			mux := http.NewServeMux()
			mux.HandleFunc("POST "+tt.path, func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				got <- string(b)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.answer)
			})
			srv := httptest.NewServer(mux)
			defer srv.Close()

			v, err := tt.enroll(t.Context(), srv.URL+"/")
			var refused *wire.RefusedEnrollmentError
			if errors.As(err, &refused) != tt.refused {
				t.Errorf("enroll error %v: a *RefusedEnrollmentError = %t, want %t", err, !tt.refused, tt.refused)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("enroll = %q, %v, want an error containing %q", v, err, tt.wantErr)
				}
				return
			}
			if err != nil || v != tt.want {
				t.Fatalf("enroll = %q, %v, want %q", v, err, tt.want)
			}
			if body := <-got; !strings.Contains(body, tt.wantBody) {
				t.Errorf("controller received %s, want it to hold %s", body, tt.wantBody)
			}
		})
	}
}

// TestEnrollUnreachable: a controller that does not answer is named.
func TestEnrollUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	_, err := wire.EnrollDevice(t.Context(), http.DefaultClient, base, api.EnrollRequest{Token: "t"})
	if err == nil || !strings.Contains(err.Error(), "reach controller at "+base) {
		t.Errorf("EnrollDevice(closed server) = %v, want it to name the controller it could not reach", err)
	}
}
