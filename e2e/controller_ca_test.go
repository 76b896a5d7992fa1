package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gatehouse-ztna/gatehouse/agent"
	"github.com/gatehouse-ztna/gatehouse/api"
)

// TestAgentRefusesAControllerCertFromAnotherCA: an agent enrolled with the
// controller's CA, whose controller URL now leads to a server with a
// certificate from another CA (a DNS hijack, a hostile network), refuses
// the TLS handshake: no request, so no device-key signature, ever reaches
// that server, and `gatehouse status` says why.
func TestAgentRefusesAControllerCertFromAnotherCA(t *testing.T) {
	env := New(t, Options{})
	env.Standard(t)

	var requests, auths atomic.Int32
	impostor := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		// Play the controller: a hello, then wait for the agent's auth.
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		nonce := make([]byte, 32)
		rand.Read(nonce)
		env, _ := api.NewEnvelope(api.TypeHello, api.HelloMsg{Nonce: base64.StdEncoding.EncodeToString(nonce)})
		b, _ := json.Marshal(env)
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		c.Write(ctx, websocket.MessageText, b)
		if _, data, err := c.Read(ctx); err == nil && strings.Contains(string(data), `"`+api.TypeAuth+`"`) {
			auths.Add(1)
		}
	}))
	handshakes := &LogBuffer{} // the agent did knock: its handshakes fail
	impostor.Config.ErrorLog = log.New(handshakes, "", 0)
	impostor.StartTLS() // httptest's own CA, not the controller's
	t.Cleanup(impostor.Close)

	a := env.AgentWith(t, "alice", func(cfg *agent.Config) {
		pointAt(t, cfg.StateDir, impostor.URL)
	})
	var st string
	a.Eventually(5*time.Second, func() error {
		s := a.Status()
		if s.Connected || s.LastError == "" {
			return fmt.Errorf("agent status %+v: want not connected, with an error", s)
		}
		st = s.LastError
		return nil
	})
	time.Sleep(500 * time.Millisecond) // room for a reconnect attempt that must fail the same way
	t.Logf("agent's last error: %s", st)
	if !handshakes.Contains("bad certificate") {
		t.Error("the impostor saw no refused TLS handshake: did the agent try to reach it at all?")
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("impostor received %d requests (%d with the device's auth), want none", n, auths.Load())
	}
	for _, want := range []string{"not the controller this device enrolled with", "certificate", "enroll again"} {
		if !strings.Contains(st, want) {
			t.Errorf("Status().LastError = %q, want it to contain %q", st, want)
		}
	}
}

// pointAt rewrites an enrolled agent's controller URL, as a changed DNS
// answer would redirect it.
func pointAt(t *testing.T, stateDir, url string) {
	t.Helper()
	path := filepath.Join(stateDir, "state.json")
	b, err := os.ReadFile(path)
	Must(t, err)
	var st agent.State
	Must(t, json.Unmarshal(b, &st))
	st.Controller = url
	b, err = json.Marshal(st)
	Must(t, err)
	Must(t, os.WriteFile(path, b, 0o600))
}
