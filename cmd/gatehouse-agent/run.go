package main

import (
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-ztna/gatehouse/agent"
	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/agent/sysservice"
	"github.com/gatehouse-ztna/gatehouse/posture"
)

func runCmd() *cobra.Command {
	var cfg agent.Config
	var override string
	var tunOn, dnsOn bool
	var tunName string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the agent in the foreground",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.StateDir = stateDir(cmd)
			if cfg.Socket == "" {
				cfg.Socket = localapi.StateSocket(cfg.StateDir)
			}
			cfg.Logger = slog.New(sysservice.LogHandler(os.Stderr))
			cfg.Secrets = secrets(cfg.StateDir)
			sys := posture.NewSystem(agent.Version)
			cfg.Posture, cfg.PostureWatch = sys, sys.Watcher(cfg.Logger)
			if override != "" {
				src := posture.WithOverride(sys, override, cfg.Logger)
				cfg.Posture, cfg.PostureWatch = src, posture.WatchBoth(sys.Watcher(cfg.Logger), src.Watch)
				cfg.Logger.Warn("posture override in use: facts from this file replace what the OS reports (development and tests only)", "file", override)
			}
			if ip := net.ParseIP(cfg.ListenHost); cfg.ListenHost != "localhost" && (ip == nil || !ip.IsLoopback()) {
				cfg.Logger.Warn("app ports listen beyond loopback; callers from other hosts are refused, since only the local user may ride this device's access", "listen_host", cfg.ListenHost)
			}
			if tunOn {
				cfg.TUN = &agent.TUNConfig{Name: tunName, NoDNS: !dnsOn}
			}
			a, err := agent.New(cfg)
			if err != nil {
				return err
			}
			cfg.Logger.Info("agent running", "socket", cfg.Socket, "secrets", cfg.Secrets.Where(), "local_user", a.Status().LocalUser)
			return sysservice.Run(cmd.Context(), a.Run)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Socket, "socket", "", "local API socket (default: agent.sock in the state dir)")
	f.StringVar(&override, "posture-override", "", "JSON file whose facts replace the collected ones; FOR DEVELOPMENT AND TESTS ONLY")
	f.IntVar(&cfg.PortBase, "port-base", 17000, "first local port for app proxies (0: any free port)")
	f.StringVar(&cfg.ListenHost, "listen-host", "127.0.0.1", "address app proxies listen on")
	f.StringVar(&cfg.LocalUser, "local-user", "", "the only local user (name or uid) served on the app ports (default: who enrolled, else who runs the agent)")
	f.BoolVar(&tunOn, "tun", false, "also serve the apps at their virtual IPs on a TUN interface, routed for the local user only (Linux, needs root or CAP_NET_ADMIN)")
	f.StringVar(&tunName, "tun-name", "gh0", "name of the TUN interface (with --tun)")
	f.BoolVar(&dnsOn, "dns", true, "with --tun, answer APP.DOMAIN on the TUN's address 169.254.53.8:53, registered with systemd-resolved where it runs (see docs/split-dns.md)")
	f.StringVar(&cfg.SOCKS5, "socks5", "", "also serve the apps over SOCKS5 on this loopback host:port, e.g. 127.0.0.1:1080 (names: APP, APP.gatehouse or the app's virtual IP)")
	f.DurationVar(&cfg.TunnelIdle, "tunnel-idle", 5*time.Minute, "close an app's tunnel and release its grant after this long with no open connection (0: never); the next connection asks again")
	return cmd
}
