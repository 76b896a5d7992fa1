package tunmode

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os/exec"
	"regexp"
	"strings"

	"golang.zx2c4.com/wireguard/tun"
)

// Tools by absolute path, so that PATH cannot swap them.
const (
	ifconfigPath = "/sbin/ifconfig"
	routePath    = "/sbin/route"
)

// sourceAddr is the utun interface's address (link-local, colliding with
// no app or overlay address), the source of connections to the apps.
var sourceAddr = netip.MustParseAddr("169.254.53.8")

// utunName is what macOS accepts: utun (the kernel picks the number) or
// utunN.
var utunName = regexp.MustCompile(`^utun[0-9]*$`)

// link is the utun interface with its host routes. macOS has no routing
// by uid (no ip rule uidrange): the routes are the host's, for every
// account, and the owner of each flow's socket is the only per-user
// check (localpeer.SocketOwner, which is not implemented on macOS yet,
// so every flow is refused: fail closed).
type link struct {
	name string
	log  *slog.Logger
}

// openLink creates a utun interface (macOS names it utunN; a name that
// is not utun or utunN, like the default gh0, lets the kernel pick) and
// gives it its address. Nothing is left after a crash: the interface and
// its routes go away with the agent's file descriptor.
func openLink(name string, _, mtu int, log *slog.Logger) (*link, tun.Device, error) {
	if !utunName.MatchString(name) {
		name = "utun"
	}
	dev, err := tun.CreateTUN(name, mtu)
	if err != nil {
		return nil, nil, fmt.Errorf("create utun interface (needs root): %w", err)
	}
	l := &link{log: log}
	if l.name, err = dev.Name(); err != nil {
		dev.Close()
		return nil, nil, fmt.Errorf("utun interface name: %w", err)
	}
	a := sourceAddr.String()
	if err := run(ifconfigPath, l.name, "inet", a, a, "netmask", "255.255.255.255", "up"); err != nil {
		dev.Close()
		return nil, nil, err
	}
	log.Warn("TUN mode on macOS: routes are for every account on this Mac (no routing by uid), and the per-user check of each flow is not implemented here yet, so every flow is refused; use the local proxy ports", "interface", l.name)
	return l, dev, nil
}

func (l *link) addRoute(a netip.Addr) error {
	err := run(routePath, "-n", "add", "-inet", "-host", a.String(), "-interface", l.name)
	if err != nil && strings.Contains(err.Error(), "File exists") {
		return nil
	}
	return err
}

// blockRoute keeps a denied app routed to the interface, where its flows
// are refused at once (no unreachable route type is used here yet).
func (l *link) blockRoute(a netip.Addr) error { return l.addRoute(a) }

func (l *link) delRoute(a netip.Addr) error {
	return run(routePath, "-n", "delete", "-inet", "-host", a.String(), "-interface", l.name)
}

// remove has nothing to do: the routes go with the interface.
func (l *link) remove() error { return nil }

func run(path string, args ...string) error {
	out, err := exec.Command(path, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", path, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
