package httpapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
)

// passkeyController is a controller over TLS on loopback whose passkey
// relying party is "localhost" at its own origin, with alice (password
// and TOTP) in it.
type passkeyController struct {
	*testController
	origin string // https://localhost:PORT
	seed   string // alice's TOTP seed
	leaf   *x509.Certificate
	pool   *x509.CertPool
	log    *syncBuffer
}

// freeLoopbackPort returns a port free a moment ago: the relying party's
// origin must be known before the server listens.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func startPasskeyController(t *testing.T) *passkeyController {
	t.Helper()
	dir := t.TempDir()
	port := freeLoopbackPort(t)
	origin := fmt.Sprintf("https://localhost:%d", port)
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	core, err := controller.New(context.Background(), controller.Config{DataDir: dir, Logger: log, Identity: identity.Config{
		Password: identity.PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		Passkeys: identity.PasskeyConfig{RPID: "localhost", Origins: []string{origin}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(core, Config{Listen: fmt.Sprintf("127.0.0.1:%d", port), DataDir: dir, Logger: log})
	if err != nil {
		core.Close()
		t.Fatal(err)
	}
	tc := &testController{Server: srv, core: core}
	go srv.Serve()
	t.Cleanup(func() { tc.Close() })

	ctx := t.Context()
	if _, _, err := core.Users.Create(ctx, testOwner, api.User{Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := core.Identity.SetPassword(ctx, "alice", alicePassword); err != nil {
		t.Fatal(err)
	}
	enr, err := core.Identity.BeginTOTP(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := totp.GenerateCode(enr.Secret, time.Now())
	if err := core.Identity.ConfirmTOTP(ctx, "alice", c); err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(srv.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	conn, err := tls.Dial("tcp", srv.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	leaf := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	return &passkeyController{testController: tc, origin: origin, seed: enr.Secret, leaf: leaf, pool: pool, log: logs}
}

// nextCode is alice's TOTP code for the next step (the enrolment spent
// this one's; one step of drift is accepted).
func (pc *passkeyController) nextCode(t *testing.T) string {
	t.Helper()
	c, err := totp.GenerateCode(pc.seed, time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// client is an HTTP client with a cookie jar that trusts the controller
// and does not follow redirects.
func (pc *passkeyController) client(t *testing.T) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pc.pool, ServerName: "localhost"}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// do sends a request with headers and returns status and body.
func do(t *testing.T, cl *http.Client, method, url, contentType string, body io.Reader, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := cl.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}
