package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/gatehouse-ztna/gatehouse/internal/testidp"
)

// parseOIDC parses args as the controller's OIDC flags and builds the
// provider.
func parseOIDC(t *testing.T, publicNames []string, args ...string) (available bool, built bool, err error) {
	t.Helper()
	var o oidcFlags
	f := pflag.NewFlagSet("test", pflag.ContinueOnError)
	o.register(f)
	if err := f.Parse(args); err != nil {
		t.Fatal(err)
	}
	p, err := o.provider(context.Background(), f, publicNames, ":8443", slog.New(slog.DiscardHandler))
	if p == nil {
		return false, false, err
	}
	return p.Status().Available, true, err
}

func TestOIDCFlags(t *testing.T) {
	idp := testidp.New(t, testidp.Options{})
	dir := t.TempDir()
	ca := filepath.Join(dir, "idp-ca.pem")
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(ca, idp.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "https://" + ln.Addr().String()
	ln.Close()

	tests := []struct {
		name          string
		publicNames   []string
		args          []string
		env           string
		wantBuilt     bool
		wantAvailable bool
		wantErr       string
	}{
		{name: "no IdP", wantBuilt: false},
		{name: "a flag without the issuer", args: []string{"--oidc-client-id", "gh"}, wantErr: "needs --oidc-issuer"},
		{name: "discovered through the CA file", args: []string{"--oidc-issuer", idp.Issuer, "--oidc-client-id", "gh",
			"--oidc-client-secret-file", secret, "--oidc-ca-file", ca, "--oidc-redirect-url", "https://gh.example/oidc/callback"},
			wantBuilt: true, wantAvailable: true},
		{name: "secret from the environment, redirect from the public name", publicNames: []string{"gh.example"}, env: "s3cret",
			args: []string{"--oidc-issuer", idp.Issuer, "--oidc-client-id", "gh", "--oidc-ca-file", ca}, wantBuilt: true, wantAvailable: true},
		{name: "IdP's certificate not trusted", args: []string{"--oidc-issuer", idp.Issuer, "--oidc-client-id", "gh",
			"--oidc-client-secret-file", secret, "--oidc-redirect-url", "https://gh.example/oidc/callback"}, wantBuilt: true},
		{name: "IdP unreachable: starts anyway", args: []string{"--oidc-issuer", down, "--oidc-client-id", "gh",
			"--oidc-client-secret-file", secret, "--oidc-redirect-url", "https://gh.example/oidc/callback"}, wantBuilt: true},
		{name: "no secret", args: []string{"--oidc-issuer", idp.Issuer, "--oidc-client-id", "gh", "--oidc-redirect-url", "https://gh.example/oidc/callback"},
			wantErr: secretEnv},
		{name: "no redirect URL", args: []string{"--oidc-issuer", idp.Issuer, "--oidc-client-id", "gh", "--oidc-client-secret-file", secret},
			wantErr: "--oidc-redirect-url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(secretEnv, tt.env)
			available, built, err := parseOIDC(t, tt.publicNames, tt.args...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("provider(%v) = %v, want an error mentioning %q", tt.args, err, tt.wantErr)
				}
				return
			}
			if err != nil || built != tt.wantBuilt || available != tt.wantAvailable {
				t.Errorf("provider(%v) = built %v available %v, %v; want built %v available %v", tt.args, built, available, err, tt.wantBuilt, tt.wantAvailable)
			}
		})
	}
}

func TestDefaultRedirect(t *testing.T) {
	tests := []struct {
		names        []string
		listen, want string
	}{
		{[]string{"gh.example"}, ":8443", "https://gh.example:8443/oidc/callback"},
		{[]string{"gh.example"}, "0.0.0.0:443", "https://gh.example/oidc/callback"},
		{[]string{"2001:db8::1"}, ":443", "https://[2001:db8::1]/oidc/callback"},
	}
	for _, tt := range tests {
		if got, err := defaultRedirect(tt.names, tt.listen); err != nil || got != tt.want {
			t.Errorf("defaultRedirect(%v, %q) = %q, %v; want %q", tt.names, tt.listen, got, err, tt.want)
		}
	}
}
