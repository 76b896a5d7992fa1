package gui

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/api"
)

// agentOnSocket serves mux as the agent's local API on a real unix socket.
func agentOnSocket(t *testing.T, mux *http.ServeMux) *localapi.Client {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return localapi.NewClient(socket)
}

func TestLocalActionsOverTheLocalAPI(t *testing.T) {
	var asked api.AccessRequestInput
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+localapi.PathRequest, func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&asked)
		_ = json.NewEncoder(w).Encode(api.AccessRequest{App: asked.App, State: api.RequestPending})
	})
	mux.HandleFunc("POST "+localapi.PathLogin, func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(localapi.Login{State: localapi.LoginPending, VerificationURI: "https://c/device", VerificationURIComplete: "https://c/device?user_code=AB-CD", UserCode: "AB-CD"})
	})
	mux.HandleFunc("POST "+localapi.PathLogout, func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(localapi.Logout{Warning: "the controller was not told: it is unreachable"})
	})
	acts := LocalActions{Agent: agentOnSocket(t, mux)}
	ctx := context.Background()

	if err := acts.RequestAccess(ctx, "prod", "INC-42", 2*time.Hour); err != nil {
		t.Fatalf("RequestAccess() = %v", err)
	}
	if want := (api.AccessRequestInput{App: "prod", Reason: "INC-42", For: api.Duration(2 * time.Hour)}); asked != want {
		t.Errorf("the agent was asked %+v, want %+v", asked, want)
	}
	s, err := acts.SignIn(ctx)
	if want := (SignIn{Step: SignInPending, URL: "https://c/device?user_code=AB-CD", Code: "AB-CD"}); err != nil || s != want {
		t.Errorf("SignIn() = %+v, %v, want %+v", s, err, want)
	}
	if err := acts.SignOut(ctx); err == nil || !strings.Contains(err.Error(), "the controller was not told") {
		t.Errorf("SignOut() = %v, want the agent's warning", err)
	}
}

func TestLocalActionsAgentDown(t *testing.T) {
	acts := LocalActions{Agent: localapi.NewClient(filepath.Join(t.TempDir(), "none.sock"))}
	if err := acts.RequestAccess(context.Background(), "prod", "x", time.Hour); err == nil || !strings.Contains(err.Error(), "is gatehouse-agent running?") {
		t.Errorf("RequestAccess() with no agent = %v, want the agent-not-answering error", err)
	}
	if _, err := acts.SignIn(context.Background()); err == nil || !strings.Contains(err.Error(), "could not start the sign-in") {
		t.Errorf("SignIn() with no agent = %v", err)
	}
}

func TestOpenURLOpensOnlyWebPages(t *testing.T) {
	test.NewTempApp(t)
	for _, u := range []string{"file:///etc/passwd", "javascript:alert(1)", "smb://host/share", "not a url\x00"} {
		if err := (LocalActions{}).OpenURL(u); err == nil {
			t.Errorf("OpenURL(%q) = nil, want a refusal", u)
		}
	}
	for _, u := range []string{"https://ctl.example/device?user_code=AB", "http://127.0.0.1:8443/device"} {
		if err := (LocalActions{}).OpenURL(u); err != nil {
			t.Errorf("OpenURL(%q) = %v", u, err)
		}
	}
}
