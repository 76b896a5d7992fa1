package main

import (
	"fmt"
	"path/filepath"
	"regexp"

	"github.com/kardianos/service"
	"github.com/spf13/cobra"

	"github.com/gatehouse-ztna/gatehouse/agent/sysservice"
)

// userName is what --local-user may hold: a user name or a uid, nothing
// the service manager's command line would split or quote.
var userName = regexp.MustCompile(`^[A-Za-z0-9._][A-Za-z0-9._-]*$`)

func serviceCmd() *cobra.Command {
	var o sysservice.Options
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Install and control the agent as a system service (as root)",
	}
	f := cmd.PersistentFlags()
	f.StringVar(&o.Executable, "agent", "", "gatehouse-agent to run (default: the one next to gatehouse)")
	f.StringVar(&o.LocalUser, "local-user", "", "the device's local user the service serves (default: who ran sudo, else who enrolled)")
	control := func(use, short string, act func(service.Service) error, done string) *cobra.Command {
		return &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := sysservice.New(o)
			if err != nil {
				return err
			}
			if err := act(s); err != nil {
				return fmt.Errorf("%s the %s service: %w (run as root: sudo gatehouse service %s)", use, sysservice.Name, err, use)
			}
			fmt.Fprintln(cmd.OutOrStdout(), done)
			return nil
		}}
	}
	install := control("install", "Install the service (it starts at boot; start it now with gatehouse service start)", func(s service.Service) error {
		return s.Install()
	}, "installed; start it with: sudo gatehouse service start")
	install.Flags().BoolVar(&o.TUN, "tun", false, "run the agent in TUN mode too (gatehouse-agent run --tun); the service gets CAP_NET_ADMIN")
	install.Flags().StringVar(&o.TUNName, "tun-name", "", "name of the TUN interface (with --tun; default: the agent's, gh0)")
	install.PreRunE = func(*cobra.Command, []string) error {
		if o.TUNName != "" && (!o.TUN || !userName.MatchString(o.TUNName)) {
			return fmt.Errorf("--tun-name %q: give it with --tun, letters, digits, dots, dashes and underscores only", o.TUNName)
		}
		if o.LocalUser == "" {
			o.LocalUser = sysservice.InstallingUser()
		}
		if o.LocalUser != "" && !userName.MatchString(o.LocalUser) {
			return fmt.Errorf("--local-user %q: give a user name or a numeric uid", o.LocalUser)
		}
		if o.Executable == "" {
			exe, err := sysservice.DefaultExecutable()
			if err != nil {
				return err
			}
			o.Executable = exe
		}
		if !filepath.IsAbs(o.Executable) {
			return fmt.Errorf("--agent %q: give an absolute path", o.Executable)
		}
		return nil
	}
	status := &cobra.Command{Use: "status", Short: "Say whether the service is installed and running", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := sysservice.New(o)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s (%s): %s\n", sysservice.Name, s.Platform(), sysservice.StatusText(s.Status()))
			return nil
		}}
	cmd.AddCommand(install,
		control("uninstall", "Stop and remove the service", func(s service.Service) error {
			s.Stop() // it may be stopped already; uninstall says if removing fails
			return s.Uninstall()
		}, "uninstalled"),
		control("start", "Start the service", service.Service.Start, "started"),
		control("stop", "Stop the service", service.Service.Stop, "stopped"),
		status)
	return cmd
}
