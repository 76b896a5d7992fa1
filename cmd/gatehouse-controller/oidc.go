package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/gatehouse-ztna/gatehouse/controller/identity/oidc"
)

// secretEnv holds the IdP client secret when no --oidc-client-secret-file
// is given: a secret never goes on the command line, where every local
// user can read it.
const secretEnv = "GATEHOUSE_OIDC_CLIENT_SECRET"

// oidcFlags configure one upstream OIDC identity provider.
type oidcFlags struct {
	cfg        oidc.Config
	secretFile string
	caFile     string
}

func (o *oidcFlags) register(f *pflag.FlagSet) {
	f.StringVar(&o.cfg.Issuer, "oidc-issuer", "", "issuer URL of an upstream OIDC identity provider (Okta, Entra ID, Google, Keycloak…); users may then sign in through it")
	f.StringVar(&o.cfg.Name, "oidc-name", "", "what the sign-in button calls the identity provider (default: the issuer's host)")
	f.StringVar(&o.cfg.ClientID, "oidc-client-id", "", "this controller's client ID at the identity provider")
	f.StringVar(&o.secretFile, "oidc-client-secret-file", "", "file holding the client secret (else $"+secretEnv+"); never give the secret itself on the command line")
	f.StringVar(&o.cfg.RedirectURL, "oidc-redirect-url", "", "this controller's callback URL as registered at the identity provider (default https://FIRST_PUBLIC_NAME:PORT"+oidc.CallbackPath+")")
	f.StringSliceVar(&o.cfg.Scopes, "oidc-scopes", nil, "scopes to ask for (default "+strings.Join(oidc.DefaultScopes, ",")+"; Google: openid,email,profile)")
	f.StringVar(&o.cfg.GroupsClaim, "oidc-groups-claim", oidc.DefaultGroupsClaim, "claim holding the user's groups at the identity provider")
	f.StringToStringVar(&o.cfg.GroupMap, "oidc-group-map", nil, "IdP group=Gatehouse group pairs; the Gatehouse groups named follow the IdP at every sign-in and refresh (repeatable)")
	f.BoolVar(&o.cfg.PassThroughGroups, "oidc-groups-passthrough", false, "take IdP groups not in --oidc-group-map as Gatehouse groups of the same name")
	f.StringSliceVar(&o.cfg.AllowedEmailDomains, "oidc-allowed-domains", nil, "admit only users whose verified email is in these domains (comma-separated)")
	f.StringVar(&o.cfg.UsernameClaim, "oidc-username-claim", oidc.DefaultUsernameClaim, "claim that names a user made at the first sign-in (email must then be verified)")
	f.StringVar(&o.caFile, "oidc-ca-file", "", "PEM CA certificates to trust for the identity provider (default: the system's)")
}

// provider builds the configured identity provider (nil when no issuer
// is given) and discovers it. An unreachable provider is logged and the
// controller starts anyway; its sign-in button says it is unavailable
// until it answers.
func (o *oidcFlags) provider(ctx context.Context, f *pflag.FlagSet, publicNames []string, listen string, log *slog.Logger) (*oidc.Provider, error) {
	if o.cfg.Issuer == "" {
		for _, name := range []string{"oidc-client-id", "oidc-client-secret-file", "oidc-redirect-url", "oidc-group-map", "oidc-allowed-domains"} {
			if f.Changed(name) {
				return nil, fmt.Errorf("--%s needs --oidc-issuer", name)
			}
		}
		return nil, nil
	}
	cfg := o.cfg
	secret, err := o.secret(log)
	if err != nil {
		return nil, err
	}
	cfg.ClientSecret = secret
	if cfg.RedirectURL == "" {
		if cfg.RedirectURL, err = defaultRedirect(publicNames, listen); err != nil {
			return nil, err
		}
	}
	if o.caFile != "" {
		if cfg.HTTPClient, err = clientTrusting(o.caFile); err != nil {
			return nil, err
		}
	}
	p, err := oidc.New(cfg, nil, log.With("component", "oidc"))
	if err != nil {
		return nil, err
	}
	_ = p.Discover(ctx) // logged by p; the controller runs without it and asks again at the next sign-in
	return p, nil
}

// secret reads the client secret from --oidc-client-secret-file or the
// environment.
func (o *oidcFlags) secret(log *slog.Logger) (string, error) {
	if o.secretFile == "" {
		s := strings.TrimSpace(os.Getenv(secretEnv))
		if s == "" {
			return "", fmt.Errorf("--oidc-issuer: no client secret: put it in a file readable only by this service and give --oidc-client-secret-file, or set $%s", secretEnv)
		}
		return s, nil
	}
	b, err := os.ReadFile(o.secretFile)
	if err != nil {
		return "", fmt.Errorf("--oidc-client-secret-file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("--oidc-client-secret-file %s is empty: put the client secret from the identity provider in it", o.secretFile)
	}
	if fi, err := os.Stat(o.secretFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("the OIDC client secret file is readable by other users: chmod 600 it", "file", o.secretFile, "mode", fi.Mode().Perm())
	}
	return s, nil
}

// defaultRedirect is the callback URL at the first public name, on the
// listen port.
func defaultRedirect(publicNames []string, listen string) (string, error) {
	if len(publicNames) == 0 {
		return "", errors.New("--oidc-issuer: give --oidc-redirect-url (this controller's URL ending in " + oidc.CallbackPath + ", as registered at the identity provider) or --public-name")
	}
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("--listen %q: %w", listen, err)
	}
	host := publicNames[0]
	if port != "443" {
		host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return "https://" + host + oidc.CallbackPath, nil
}

// clientTrusting is an HTTP client that trusts the CAs in file.
func clientTrusting(file string) (*http.Client, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--oidc-ca-file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--oidc-ca-file %s: no PEM certificate in it", file)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}, nil
}
