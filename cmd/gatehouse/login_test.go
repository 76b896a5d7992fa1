package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/api"
)

// fakeAgent serves the local API's sign-in paths on a unix socket: a
// sign-in that finishes as final after polls GETs.
type fakeAgent struct {
	mu      sync.Mutex // guards the fields below
	start   localapi.Login
	final   localapi.Login
	polls   int
	after   int
	logouts int
	warning string
}

func (f *fakeAgent) serve(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	answer := func(w http.ResponseWriter, v any) { json.NewEncoder(w).Encode(v) }
	mux.HandleFunc("POST "+localapi.PathLogin, func(w http.ResponseWriter, _ *http.Request) { answer(w, f.start) })
	mux.HandleFunc("GET "+localapi.PathLogin, func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.polls++
		if f.polls >= f.after {
			answer(w, f.final)
			return
		}
		answer(w, f.start)
	})
	mux.HandleFunc("POST "+localapi.PathLogout, func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.logouts++
		answer(w, localapi.Logout{Warning: f.warning})
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return sock
}

// run runs the CLI with args against sock and returns what it printed.
func run(t *testing.T, sock string, args ...string) (string, error) {
	t.Helper()
	root := &cobra.Command{Use: "gatehouse", SilenceUsage: true, SilenceErrors: true}
	root.PersistentFlags().String("socket", sock, "")
	root.PersistentFlags().Bool("json", false, "")
	root.AddCommand(loginCmd(), logoutCmd())
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

func TestLoginCommand(t *testing.T) {
	pending := localapi.Login{State: localapi.LoginPending, VerificationURI: "https://ctrl.example.com/device",
		VerificationURIComplete: "https://ctrl.example.com/device?user_code=BCDF-GHJK", UserCode: "BCDF-GHJK", ExpiresAt: time.Now().Add(10 * time.Minute)}
	tests := []struct {
		name    string
		start   localapi.Login
		final   localapi.Login
		want    []string
		wantErr string
	}{
		{name: "signed in", start: pending, final: localapi.Login{State: localapi.LoginSignedIn, UserCode: "BCDF-GHJK", User: "alice"},
			want: []string{"Open https://ctrl.example.com/device and enter code BCDF-GHJK\n", "signed in as alice\n"}},
		{name: "refused in the browser", start: pending,
			final:   localapi.Login{State: localapi.LoginFailed, UserCode: "BCDF-GHJK", Error: "sign-in was refused in the browser; run gatehouse login to try again"},
			wantErr: "refused in the browser"},
		{name: "user name with escapes", start: pending, final: localapi.Login{State: localapi.LoginSignedIn, UserCode: "BCDF-GHJK", User: "ev\x1b[2Jil"},
			want: []string{`signed in as "ev\x1b[2Jil"`}},
		{name: "page that is not a URL", start: localapi.Login{State: localapi.LoginPending, VerificationURI: "file:///etc/passwd", UserCode: "BCDF-GHJK"},
			wantErr: "not a plain http(s) URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAgent{start: tt.start, final: tt.final, after: 1}
			out, err := run(t, f.serve(t), "login", "--no-browser")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("login = %v, want an error containing %q (printed %q)", err, tt.wantErr, out)
				}
				return
			}
			if err != nil {
				t.Fatalf("login = %v (printed %q)", err, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("login printed %q, want it to contain %q", out, w)
				}
			}
		})
	}
}

func TestLoginWithoutAgentPointsToEnrollment(t *testing.T) {
	_, err := run(t, filepath.Join(t.TempDir(), "none.sock"), "login", "--no-browser")
	if err == nil || !strings.Contains(err.Error(), "gatehouse-agent login --controller URL --ca FILE") {
		t.Errorf("login with no agent = %v, want it to name gatehouse-agent login", err)
	}
}

func TestLogoutCommand(t *testing.T) {
	f := &fakeAgent{warning: "signed out on this device, but the controller was not told"}
	out, err := run(t, f.serve(t), "logout")
	if err != nil || f.logouts != 1 || !strings.Contains(out, "warning: signed out on this device") || !strings.Contains(out, "gatehouse login") {
		t.Errorf("logout = %v, %d logouts, printed %q; want one logout, the warning and the way back", err, f.logouts, out)
	}
}

func TestSessionLine(t *testing.T) {
	exp := time.Date(2026, 3, 1, 12, 0, 0, 0, time.Local)
	tests := []struct {
		name string
		in   localapi.Session
		want string
	}{
		{"signed in", localapi.Session{SignedIn: true, User: "alice", Methods: []string{"pwd", "otp"}, ExpiresAt: exp},
			"signed in as alice (pwd, otp), access token until 12:00:00 (renewed before)"},
		{"never", localapi.Session{}, "not signed in (gatehouse login to sign in)"},
		{"ended", localapi.Session{Ended: &api.Reason{Code: api.CodeSessionRevoked, Message: "an admin ended your session", Remediation: "sign in again: gatehouse login"}},
			"not signed in: an admin ended your session (sign in again: gatehouse login)"},
		{"problem", localapi.Session{SignedIn: true, User: "alice", ExpiresAt: exp, Problem: "the new tokens could not be saved"},
			"signed in as alice, access token until 12:00:00 (renewed before); the new tokens could not be saved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sessionLine(tt.in); got != tt.want {
				t.Errorf("sessionLine(%+v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
