package wire_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/wire"
)

// scriptedToken answers polls of the token endpoint in order (a status
// and body each, the last repeated) and records when each came. The real
// endpoint is tested in controller/httpapi; this pins the client's
// reactions.
type scriptedToken struct {
	mu      sync.Mutex // guards at
	at      []time.Time
	answers []func(http.ResponseWriter)
}

func (s *scriptedToken) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != api.PathToken || r.FormValue("grant_type") != api.GrantTypeDeviceCode ||
		r.FormValue("client_id") != api.ClientAgent || r.FormValue("device_code") != "dc" {
		http.Error(w, "bad poll", http.StatusTeapot)
		return
	}
	s.mu.Lock()
	s.at = append(s.at, time.Now())
	i := min(len(s.at), len(s.answers)) - 1
	s.mu.Unlock()
	s.answers[i](w)
}

func oauthErr(status int, code string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(api.OAuthError{Error: code, Description: "the controller says " + code})
	}
}

func tokens(w http.ResponseWriter) {
	json.NewEncoder(w).Encode(api.TokenResponse{AccessToken: "gha_a", RefreshToken: "ghr_r", TokenType: "Bearer", DeviceID: "dev_1", User: "alice"})
}

// TestPollTokenSlowDown: PollToken waits the interval before each poll,
// keeps polling on authorization_pending and a controller error, adds
// 5 s after slow_down, and returns the tokens.
func TestPollTokenSlowDown(t *testing.T) {
	t.Parallel()
	t.Run("pending, then a controller error", func(t *testing.T) {
		t.Parallel()
		s := &scriptedToken{answers: []func(http.ResponseWriter){
			oauthErr(400, api.OAuthAuthorizationPending), oauthErr(500, "server_error"), tokens}}
		srv := httptest.NewServer(s)
		defer srv.Close()
		if tok, err := wire.PollToken(context.Background(), srv.Client(), srv.URL, "dc", 1); err != nil || tok.AccessToken != "gha_a" {
			t.Fatalf("PollToken = %+v, %v, want the tokens", tok, err)
		}
	})
	s := &scriptedToken{answers: []func(http.ResponseWriter){oauthErr(400, api.OAuthSlowDown), tokens}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	start := time.Now()
	tok, err := wire.PollToken(context.Background(), srv.Client(), srv.URL, "dc", 1)
	if err != nil || tok.AccessToken != "gha_a" || tok.DeviceID != "dev_1" {
		t.Fatalf("PollToken = %+v, %v, want the tokens", tok, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.at) != 2 {
		t.Fatalf("%d polls, want 2", len(s.at))
	}
	gaps := []time.Duration{s.at[0].Sub(start), s.at[1].Sub(s.at[0])}
	for i, want := range []time.Duration{time.Second, 6 * time.Second} {
		if gaps[i] < want {
			t.Errorf("poll %d came %v after the last, want at least %v (slow_down adds 5 s)", i, gaps[i], want)
		}
	}
}

// TestPollTokenEnds: access_denied and expired_token end the poll with
// their typed errors, carrying the controller's description; another
// refusal ends it as an *OAuthError; so does the context.
func TestPollTokenEnds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		answer  func(http.ResponseWriter)
		wantErr error
		code    string
	}{
		{"denied", oauthErr(400, api.OAuthAccessDenied), wire.ErrAccessDenied, api.OAuthAccessDenied},
		{"expired", oauthErr(400, api.OAuthExpiredToken), wire.ErrCodeExpired, api.OAuthExpiredToken},
		{"replayed", oauthErr(400, api.OAuthInvalidGrant), nil, api.OAuthInvalidGrant},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(&scriptedToken{answers: []func(http.ResponseWriter){tt.answer}})
			defer srv.Close()
			_, err := wire.PollToken(context.Background(), srv.Client(), srv.URL, "dc", 1)
			oe, ok := errors.AsType[*wire.OAuthError](err)
			if !ok || oe.Code != tt.code || oe.Description == "" || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("PollToken = %v, want %v (%s) with the description", err, tt.wantErr, tt.code)
			}
			if tt.wantErr == nil && (errors.Is(err, wire.ErrAccessDenied) || errors.Is(err, wire.ErrCodeExpired)) {
				t.Errorf("PollToken = %v: %s must be neither denied nor expired", err, tt.code)
			}
		})
	}
	t.Run("context", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(&scriptedToken{answers: []func(http.ResponseWriter){oauthErr(400, api.OAuthAuthorizationPending)}})
		defer srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
		defer cancel()
		if _, err := wire.PollToken(ctx, srv.Client(), srv.URL, "dc", 1); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("PollToken past its deadline = %v, want DeadlineExceeded", err)
		}
	})
}
