//go:build !linux

package splitdns

import (
	"context"
	"errors"
)

// ResolvedManagesDNS is false: systemd-resolved is Linux's.
func ResolvedManagesDNS(context.Context) bool { return false }

// ExecRunner refuses: resolvectl is Linux's.
func ExecRunner(context.Context, string, ...string) ([]byte, error) {
	return nil, errors.New("resolvectl is available on Linux only")
}
