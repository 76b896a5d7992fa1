//go:build !linux && !darwin && !windows

package tunmode

import (
	"log/slog"
	"net/netip"

	"golang.zx2c4.com/wireguard/tun"
)

type link struct{ name string }

func openLink(string, int, int, *slog.Logger) (*link, tun.Device, error) {
	return nil, nil, errLinuxOnly()
}
func (l *link) addRoute(netip.Addr) error   { return errLinuxOnly() }
func (l *link) delRoute(netip.Addr) error   { return errLinuxOnly() }
func (l *link) blockRoute(netip.Addr) error { return errLinuxOnly() }
func (l *link) remove() error               { return nil }
