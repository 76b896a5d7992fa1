//go:build !linux

package sni

import (
	"context"
	"errors"

	"github.com/gatehouse-ztna/gatehouse/gui"
)

// Supported: this OS keeps fyne's own tray (macOS: fyne.io/systray needs
// cgo there, and fyne's menu bar has no idle ticker problem to solve first).
const Supported = false

// Run is not available here; callers check Supported.
func Run(context.Context, <-chan gui.State, Handlers) error {
	return errors.New("the quiet tray runs on Linux only")
}
