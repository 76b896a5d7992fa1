package adminclient

import (
	"context"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/api"
)

func TestCheckURL(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{name: "https", in: "https://gatehouse.example.com:8443"},
		{name: "https to an address", in: "https://192.0.2.10:8443/"},
		{name: "http to loopback", in: "http://127.0.0.1:8443"},
		{name: "http to localhost", in: "http://localhost:8443"},
		{name: "http to IPv6 loopback", in: "http://[::1]:8443"},
		{name: "http to a remote name", in: "http://gatehouse.example.com:8443", wantErr: "plain http would send the admin token in clear"},
		{name: "http to a LAN address", in: "http://192.0.2.10:8443", wantErr: "use https://"},
		{name: "http to a name that starts like loopback", in: "http://127.0.0.1.evil.example:8443", wantErr: "in clear"},
		{name: "no scheme", in: "gatehouse.example.com:8443", wantErr: "want https://host:port"},
		{name: "another scheme", in: "ftp://gatehouse.example.com", wantErr: "scheme must be https"},
		{name: "empty", in: "", wantErr: "want https://host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckURL(tt.in)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("CheckURL(%q) = %v, want error containing %q", tt.in, err, tt.wantErr)
			}
			if _, nerr := New(tt.in, "gha_x", nil); (nerr == nil) != (err == nil) {
				t.Errorf("New(%q) = %v, want the same verdict as CheckURL (%v)", tt.in, nerr, err)
			}
		})
	}
}

// caOf is the PEM of a httptest TLS server's certificate.
func caOf(srv *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

func TestRedirectsThatDowngradeAreRefused(t *testing.T) {
	// The plain-http side of the trap: it records any request that reaches
	// it, and the token the request carried.
	var reached atomic.Int32
	var leaked atomic.Value
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		leaked.Store(r.Header.Get("Authorization"))
		w.Write([]byte("[]"))
	}))
	defer plain.Close()
	secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/down" + api.PathUsers: // same host (127.0.0.1), http: the token would follow
			http.Redirect(w, r, plain.URL+api.PathUsers, http.StatusTemporaryRedirect)
		case "/up" + api.PathUsers: // https to https on the same server: fine
			http.Redirect(w, r, api.PathUsers, http.StatusMovedPermanently)
		default:
			w.Write([]byte("[]"))
		}
	}))
	defer secure.Close()

	down, err := New(secure.URL+"/down", "gha_secret", caOf(secure))
	if err != nil {
		t.Fatal(err)
	}
	_, err = List[api.User](context.Background(), down, api.PathUsers)
	if err == nil || !strings.Contains(err.Error(), "redirected from https to") {
		t.Errorf("List through a redirect to %s = %v, want it refused as a downgrade", plain.URL, err)
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("the plain-http server got %d requests (Authorization %q), want none", n, leaked.Load())
	}

	up, err := New(secure.URL+"/up", "gha_secret", caOf(secure))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := List[api.User](context.Background(), up, api.PathUsers); err != nil {
		t.Errorf("List through an https-to-https redirect = %v, want nil", err)
	}
}

func TestRedirectToPlainHTTPOffLoopbackIsRefused(t *testing.T) {
	// From plain http on loopback (development) to plain http elsewhere.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://192.0.2.10:8443"+api.PathUsers, http.StatusFound)
	}))
	defer srv.Close()
	c, err := New(srv.URL, "gha_secret", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Tests dial only loopback: record any other dial instead of making it.
	var offLoopback atomic.Value
	tr := c.http.Transport.(*http.Transport)
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, _, _ := net.SplitHostPort(addr); host != "127.0.0.1" {
			offLoopback.Store(addr)
			return nil, errors.New("test: refusing to dial off loopback")
		}
		return dial(ctx, network, addr)
	}
	_, err = List[api.User](context.Background(), c, api.PathUsers)
	if err == nil || !strings.Contains(err.Error(), "plain http would send the admin token in clear") {
		t.Errorf("List through a redirect to http://192.0.2.10 = %v, want it refused before dialing", err)
	}
	if addr := offLoopback.Load(); addr != nil {
		t.Errorf("the client dialed %v, want the redirect refused before any dial", addr)
	}
}
