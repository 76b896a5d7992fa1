// Command gatehouse-controller runs the Gatehouse controller: admin API,
// enrollment, agent links, decisions, and an embedded gateway.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/gatehouse-ztna/gatehouse/controller"
	"github.com/gatehouse-ztna/gatehouse/controller/httpapi"
)

func main() {
	var cfg controller.Config
	var srv httpapi.Config
	var gc embeddedConfig
	var logLevel, tokenFile string
	var idp oidcFlags
	var passkeyOrigins []string
	cmd := &cobra.Command{
		Use:           "gatehouse-controller",
		Short:         "Run the Gatehouse controller with its embedded gateway",
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: use debug, info, warn or error", logLevel)
			}
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			srv.Logger, srv.DataDir = cfg.Logger, cfg.DataDir
			show := tokenShower{out: os.Stdout, terminal: isTerminal(os.Stdout), file: tokenFile,
				fileChosen: cmd.Flags().Changed("admin-token-file")}
			if show.file == "" {
				show.file = filepath.Join(cfg.DataDir, "admin-token")
			}
			// An upstream identity provider, if one is configured.
			p, err := idp.provider(cmd.Context(), cmd.Flags(), srv.PublicNames, srv.Listen, cfg.Logger)
			if err != nil {
				return err
			}
			if p != nil {
				cfg.Identity.Upstreams = append(cfg.Identity.Upstreams, p)
			}
			cfg.Identity.Passkeys = passkeyConfig(srv.PublicNames, srv.Listen, passkeyOrigins, cfg.Logger)
			if gc.Host != "" {
				// The certificate covers the name agents reach this machine at.
				srv.PublicNames = append(srv.PublicNames, gc.Host)
			}
			return run(cmd.Context(), cfg, srv, gc, show)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", "gatehouse-data", "where the database, CA and gateway key live")
	f.StringVar(&srv.Listen, "listen", ":8443", "HTTPS address for the API, console and agent websockets")
	f.BoolVar(&srv.InsecureHTTP, "insecure-http", false, "serve plain HTTP (only allowed on a loopback --listen; for development)")
	f.DurationVar(&cfg.LeaseTTL, "lease-ttl", controller.DefaultLeaseTTL, "how long a grant lives without renewal")
	f.DurationVar(&cfg.HeartbeatInterval, "heartbeat", controller.DefaultHeartbeatInterval, "how often agents send a full posture report")
	f.DurationVar(&srv.SignIn.DeviceFlow.Interval, "device-poll-interval", controller.DefaultDeviceCodeInterval, "how often an agent waiting for a sign-in may ask whether it finished (at least 1s)")
	f.IntVar(&gc.Port, "gateway-port", defaultGatewayPort, "UDP port of the embedded gateway's WireGuard")
	f.StringVar(&gc.Host, "gateway-host", "", "name or address agents reach this machine's embedded gateway at (required unless --listen is loopback)")
	f.StringArrayVar(&srv.PublicNames, "public-name", nil, "DNS name or address agents and admins reach the controller at; the certificate covers it (repeatable)")
	f.StringVar(&tokenFile, "admin-token-file", "", "where the first start writes the admin token, 0600 (default DATA_DIR/admin-token; used unless stdout is a terminal)")
	f.BoolVar(&cfg.TrustPostureOverrides, "trust-posture-overrides", false, "accept facts from agents' --posture-override files (development and demos only)")
	f.StringVar(&cfg.DNSDomain, "dns-domain", controller.DefaultDNSDomain, "the organisation's Gatehouse DNS domain: agents in TUN mode resolve APP.DOMAIN to the app (e.g. corp.gatehouse)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	idp.register(f)
	f.StringArrayVar(&passkeyOrigins, "passkey-origin", nil, "web origin the sign-in pages are reached at, for passkeys (default https://FIRST_DNS_PUBLIC_NAME:PORT; repeatable)")

	// Every file the controller makes (database, keys, token) is private.
	restrictUmask()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse-controller:", err)
		os.Exit(1)
	}
}

// run builds the core, registers the embedded gateway, serves the core
// over HTTPS until ctx ends, and closes everything in reverse.
func run(ctx context.Context, cfg controller.Config, srvCfg httpapi.Config, gc embeddedConfig, show tokenShower) error {
	// Checked before New creates anything.
	if err := checkEmbedded(srvCfg.Listen, gc); err != nil {
		return err
	}
	if err := srvCfg.Check(); err != nil {
		return err
	}
	c, err := controller.New(ctx, cfg)
	if err != nil {
		return err
	}
	gw, err := startEmbedded(cfg.DataDir, srvCfg.Listen, gc, cfg.Logger.With("component", "gateway"))
	if err != nil {
		c.Close()
		return err
	}
	// Closed in reverse: the server (ending the links), the core (no more
	// renewals), then the gateway.
	defer gw.Close()
	defer c.Close()
	if err := c.RegisterGateway(ctx, controller.EmbeddedGateway, embeddedEnforcer{gw}); err != nil {
		return err
	}
	srv, err := httpapi.New(c, srvCfg)
	if err != nil {
		return err
	}
	if tok := c.Auth.BootstrapToken(); tok != "" {
		if err := show.show(tok); err != nil {
			srv.Close()
			return err
		}
	}
	cfg.Logger.Info("controller listening", "url", srv.URL(), "gateway", gw.Endpoint(), "ca", srv.CAFile())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve() }()
	select {
	case <-ctx.Done():
		cfg.Logger.Info("shutting down")
	case err = <-errc:
	}
	if cerr := srv.Close(); err == nil {
		err = cerr
	}
	return err
}
