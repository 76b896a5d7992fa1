package localapi

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// fakeAgent serves handle on a unix socket as the agent would.
func fakeAgent(t *testing.T, handle http.HandlerFunc) *Client {
	t.Helper()
	dir, err := os.MkdirTemp("", "ghw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handle}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return NewClient(sock)
}

// TestWatchEndsWhenTheAgentDoes: the client yields the snapshots, skips
// keep-alives, and ends with an error that says what happened: the agent
// closed the stream, or it went silent for three keep-alive intervals
// (hung), or it refused.
func TestWatchEndsWhenTheAgentDoes(t *testing.T) {
	tests := []struct {
		name    string
		handle  http.HandlerFunc
		updates int
		wantErr string
	}{
		{"agent stopped", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintln(w, `{"type":"snapshot","keepalive_ms":50,"status":{"connected":true}}`)
			fmt.Fprintln(w, `{"type":"keepalive"}`)
			fmt.Fprintln(w, `{"type":"snapshot","status":{"connected":false}}`)
		}, 2, "the agent ended the watch"},
		{"agent hung", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintln(w, `{"type":"snapshot","keepalive_ms":50,"status":{"connected":true}}`)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}, 1, "sent nothing on the watch"},
		{"refused", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "this agent serves user alice; you are bob", http.StatusForbidden)
		}, 0, "this agent serves user alice; you are bob"},
		{"malformed", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintln(w, `{"type":`)
		}, 0, "malformed watch line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fakeAgent(t, tt.handle)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			start := time.Now()
			var n int
			var last error
			for u, err := range c.Watch(ctx) {
				if err != nil {
					last = err
					continue
				}
				if u.Type != UpdateSnapshot {
					t.Errorf("Watch yielded a %q update, want snapshots only", u.Type)
				}
				n++
			}
			if n != tt.updates || last == nil || !strings.Contains(last.Error(), tt.wantErr) {
				t.Errorf("Watch() = %d updates then %v, want %d then an error with %q", n, last, tt.updates, tt.wantErr)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("Watch took %s to end, want well under 5 s", took)
			}
		})
	}
}

func TestAccessState(t *testing.T) {
	until := time.Now().Add(time.Hour)
	tests := []struct {
		name string
		in   App
		want string
	}{
		{"no JIT", App{Allowed: true}, AccessNotNeeded},
		{"approved", App{Allowed: true, AccessUntil: until}, AccessApproved},
		{"pending", App{Reasons: reasons("access.pending")}, AccessPending},
		{"denied", App{Reasons: reasons("access.denied")}, AccessDenied},
		{"expired", App{Reasons: reasons("access.expired")}, AccessExpired},
		{"required", App{Reasons: reasons("posture.firewall", "access.required")}, AccessRequired},
		{"posture only", App{Reasons: reasons("posture.firewall")}, AccessNotNeeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.AccessState(); got != tt.want {
				t.Errorf("AccessState(%+v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func reasons(codes ...string) []api.Reason {
	var rs []api.Reason
	for _, c := range codes {
		rs = append(rs, api.Reason{Code: c, Message: c})
	}
	return rs
}
