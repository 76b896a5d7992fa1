package main

import (
	"errors"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/gatehouse-ztna/gatehouse/gateway"
	"github.com/gatehouse-ztna/gatehouse/gateway/link"
)

func runCmd() *cobra.Command {
	var port int
	var host string
	cmd := &cobra.Command{
		Use:   "run --public-host HOST [--listen-port 51820]",
		Short: "Run the gateway in the foreground",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if host == "" {
				return errors.New("--public-host is required: the host name or address agents reach this gateway's UDP port at")
			}
			dir := stateDir(cmd)
			st, key, ca, err := link.Load(dir)
			if err != nil {
				return err
			}
			wg, err := link.LoadOrCreateWireGuardKey(dir)
			if err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			gw, err := gateway.New(gateway.Config{PrivateKey: wg, ListenPort: port, PublicHost: host, Logger: log.With("component", "gateway")})
			if err != nil {
				return err
			}
			defer gw.Close()
			l, err := link.New(link.Config{Controller: st.Controller, CAPEM: ca, GatewayID: st.GatewayID, Key: key,
				Version: Version, Gateway: gw, Logger: log.With("component", "link")})
			if err != nil {
				return err
			}
			log.Info("gateway running", "name", st.Name, "endpoint", gw.Endpoint(), "controller", st.Controller)
			l.Run(cmd.Context())
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&port, "listen-port", 51820, "UDP port for WireGuard")
	f.StringVar(&host, "public-host", "", "host agents reach the UDP port at (required)")
	return cmd
}
