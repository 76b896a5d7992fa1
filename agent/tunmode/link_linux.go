package tunmode

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"

	"golang.zx2c4.com/wireguard/tun"
)

// ipPath is iproute2's ip, by absolute path so that PATH cannot swap it.
const ipPath = "/usr/sbin/ip"

// Table is the routing table holding the app routes, and RulePriority
// the priority of the rule sending the local user's traffic to it; both
// are Gatehouse's alone, so a start may flush whatever it finds in them.
const (
	Table        = 5308
	RulePriority = 5308
)

// link is the TUN interface with its routes and rule.
type link struct {
	name string
	uid  int
	log  *slog.Logger
}

// openLink removes what an earlier agent left behind (a crash), then
// creates the interface, brings it up and adds the uid rule.
func openLink(name string, uid, mtu int, log *slog.Logger) (*link, tun.Device, error) {
	if name == "" || strings.ContainsAny(name, " /") || len(name) > 15 {
		return nil, nil, fmt.Errorf("TUN interface name %q: want 1 to 15 characters without spaces or slashes", name)
	}
	l := &link{name: name, uid: uid, log: log}
	if err := l.removeStale(); err != nil {
		return nil, nil, err
	}
	dev, err := tun.CreateTUN(name, mtu)
	if err != nil {
		return nil, nil, fmt.Errorf("create TUN interface %s (needs root or CAP_NET_ADMIN): %w", name, err)
	}
	fail := func(err error) (*link, tun.Device, error) {
		dev.Close()
		l.remove()
		return nil, nil, err
	}
	if l.name, err = dev.Name(); err != nil {
		return fail(fmt.Errorf("TUN interface name: %w", err))
	}
	if err := ip("link", "set", "dev", l.name, "up"); err != nil {
		return fail(err)
	}
	if err := ip("-4", "addr", "add", SourceAddr.String()+"/32", "dev", l.name); err != nil {
		return fail(err)
	}
	u := strconv.Itoa(uid)
	if err := ip("-4", "rule", "add", "priority", strconv.Itoa(RulePriority), "uidrange", u+"-"+u, "lookup", strconv.Itoa(Table)); err != nil {
		return fail(err)
	}
	if err := ip("-4", "rule", "add", "priority", strconv.Itoa(RulePriority), "from", SourceAddr.String(), "lookup", strconv.Itoa(Table)); err != nil {
		return fail(err)
	}
	return l, dev, nil
}

func (l *link) addRoute(a netip.Addr) error {
	return ip("-4", "route", "replace", netip.PrefixFrom(a, a.BitLen()).String(), "dev", l.name, "src", SourceAddr.String(), "table", strconv.Itoa(Table))
}

// blockRoute makes a an unreachable destination for the local user: the
// kernel fails its connections at once with "no route to host".
func (l *link) blockRoute(a netip.Addr) error {
	return ip("-4", "route", "replace", "unreachable", netip.PrefixFrom(a, a.BitLen()).String(), "table", strconv.Itoa(Table))
}

func (l *link) delRoute(a netip.Addr) error {
	return ip("-4", "route", "del", netip.PrefixFrom(a, a.BitLen()).String(), "dev", l.name, "table", strconv.Itoa(Table))
}

// removeStale deletes a leftover interface of this name and every route
// and rule of Gatehouse's table.
func (l *link) removeStale() error {
	if out, err := exec.Command(ipPath, "-d", "link", "show", "dev", l.name).Output(); err == nil {
		if !strings.Contains(string(out), "tun type tun") {
			return fmt.Errorf("interface %s exists and is not a TUN device; choose another name with --tun-name", l.name)
		}
		l.log.Warn("removing a TUN interface left by an earlier agent", "interface", l.name)
		if err := ip("link", "del", "dev", l.name); err != nil {
			return fmt.Errorf("remove stale TUN interface: %w", err)
		}
	}
	return l.remove()
}

// remove flushes the table and deletes the rules pointing to it; the
// interface goes away with its last file descriptor.
func (l *link) remove() error {
	var errs []string
	if err := ip("-4", "route", "flush", "table", strconv.Itoa(Table)); err != nil && !strings.Contains(err.Error(), "FIB table does not exist") {
		errs = append(errs, err.Error())
	}
	for range 64 { // two rules per start; more than a few means another writer
		if ip("-4", "rule", "del", "priority", strconv.Itoa(RulePriority), "lookup", strconv.Itoa(Table)) != nil {
			break
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("clean TUN routes: %s", strings.Join(errs, "; "))
	}
	return nil
}

func ip(args ...string) error {
	out, err := exec.Command(ipPath, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
