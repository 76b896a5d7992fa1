package controlclient_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/agent/controlclient"
	"github.com/gatehouse-ztna/gatehouse/api"
)

// TestDeviceFlowAnswers: what the controller answers is checked: OAuth
// errors come back typed, anything else malformed is a clear error that
// quotes nothing from the body.
func TestDeviceFlowAnswers(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		wantCode string // an *OAuthError with this code
		wantErr  string
	}{
		{name: "pending", status: 400, body: `{"error":"authorization_pending"}`, wantCode: api.OAuthAuthorizationPending},
		{name: "slow down", status: 400, body: `{"error":"slow_down"}`, wantCode: api.OAuthSlowDown},
		{name: "not OAuth", status: 404, body: "404 page not found", wantErr: "is it a Gatehouse controller with sign-in?"},
		{name: "malformed JSON", status: 200, body: `{"access_token":"gha_SECRET",`, wantErr: "malformed answer"},
		{name: "no tokens", status: 200, body: `{"device_id":"d"}`, wantErr: "malformed token answer"},
		{name: "oversized", status: 200, body: `{"access_token":"` + strings.Repeat("a", 100<<10) + `"}`, wantErr: "malformed answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != api.PathToken || r.FormValue("grant_type") != api.GrantTypeDeviceCode || r.FormValue("device_code") != "dc" {
					http.Error(w, "bad request", 500)
					return
				}
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			_, err := controlclient.PollToken(context.Background(), srv.Client(), srv.URL, "dc")
			var oe *controlclient.OAuthError
			if tt.wantCode != "" {
				if !errors.As(err, &oe) || oe.Code != tt.wantCode {
					t.Fatalf("PollToken() = %v, want an OAuthError %q", err, tt.wantCode)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "SECRET") {
				t.Fatalf("PollToken() = %v, want an error containing %q and no token", err, tt.wantErr)
			}
		})
	}
}

func TestStartDeviceAuthorization(t *testing.T) {
	var got url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		got = r.PostForm
		w.Write([]byte(`{"device_code":"dc","user_code":"BCDF-GHJK","verification_uri":"https://c/device","expires_in":600}`))
	}))
	defer srv.Close()
	form := url.Values{"client_id": {api.ClientAgent}, api.FieldDeviceID: {"dev-1"}}
	da, err := controlclient.StartDeviceAuthorization(context.Background(), srv.Client(), srv.URL, form)
	if err != nil || da.UserCode != "BCDF-GHJK" || da.Interval != controlclient.DefaultPollInterval {
		t.Fatalf("StartDeviceAuthorization() = %+v, %v; want the code and the default 5 s interval", da, err)
	}
	if got.Get("client_id") != api.ClientAgent || got.Get(api.FieldDeviceID) != "dev-1" {
		t.Errorf("form sent = %v, want client_id and device_id", got)
	}
}
