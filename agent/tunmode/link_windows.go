package tunmode

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/windows"
	"golang.zx2c4.com/wireguard/tun"
)

// sourceAddr is the Wintun adapter's address (link-local, colliding with
// no app or overlay address), the source of connections to the apps.
var sourceAddr = netip.MustParseAddr("169.254.53.8")

// link is the Wintun adapter with its host routes, set through netsh
// (active store only: nothing survives a reboot). Windows has no routing
// by user: the routes are the host's, for every account, and the owner
// of each flow's socket is the only per-user check
// (localpeer.SocketOwner, which is not implemented on Windows yet, so
// every flow is refused: fail closed).
type link struct {
	name  string
	netsh string
	log   *slog.Logger
}

// openLink creates the Wintun adapter and gives it its address. Wintun
// removes the adapter, and its routes with it, when the agent's handle
// closes, a crash included.
func openLink(name string, _, mtu int, log *slog.Logger) (*link, tun.Device, error) {
	if name == "" || strings.ContainsAny(name, `"\/`) || len(name) > 127 {
		return nil, nil, fmt.Errorf("TUN interface name %q: want 1 to 127 characters without quotes or slashes", name)
	}
	sys, err := windows.GetSystemDirectory()
	if err != nil {
		return nil, nil, fmt.Errorf("find netsh: %w", err)
	}
	dev, err := tun.CreateTUN(name, mtu)
	if err != nil {
		return nil, nil, fmt.Errorf("create the Wintun adapter %s: %w (run as Administrator or as the service, with wintun.dll from https://www.wintun.net next to gatehouse-agent.exe)", name, err)
	}
	l := &link{name: name, netsh: filepath.Join(sys, "netsh.exe"), log: log}
	if l.name, err = dev.Name(); err != nil {
		dev.Close()
		return nil, nil, fmt.Errorf("Wintun adapter name: %w", err)
	}
	if err := l.run("interface", "ipv4", "set", "address", "name="+l.name, "source=static", "address="+sourceAddr.String(), "mask=255.255.255.255"); err != nil {
		dev.Close()
		return nil, nil, err
	}
	log.Warn("TUN mode on Windows: routes are for every account on this PC (no routing by user), and the per-user check of each flow is not implemented here yet, so every flow is refused; use the local proxy ports", "interface", l.name)
	return l, dev, nil
}

func (l *link) addRoute(a netip.Addr) error {
	err := l.run("interface", "ipv4", "add", "route", "prefix="+netip.PrefixFrom(a, 32).String(), "interface="+l.name, "store=active")
	if err != nil && strings.Contains(strings.ToLower(err.Error()), "already exists") {
		return nil
	}
	return err
}

// blockRoute keeps a denied app routed to the interface, where its flows
// are refused at once (no unreachable route type is used here yet).
func (l *link) blockRoute(a netip.Addr) error { return l.addRoute(a) }

func (l *link) delRoute(a netip.Addr) error {
	return l.run("interface", "ipv4", "delete", "route", "prefix="+netip.PrefixFrom(a, 32).String(), "interface="+l.name, "store=active")
}

// remove has nothing to do: the routes go with the adapter.
func (l *link) remove() error { return nil }

func (l *link) run(args ...string) error {
	out, err := exec.Command(l.netsh, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("netsh %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
