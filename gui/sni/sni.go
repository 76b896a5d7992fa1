package sni

import (
	"github.com/gatehouse-ztna/gatehouse/gui"
)

// Handlers are what the menu's items do.
type Handlers struct {
	// Open shows a window (a child process on Linux); Sign in… opens
	// gui.WindowSignIn, which starts the sign-in itself.
	Open func(gui.Window)
	// SignOut ends the session; its error is shown as a notification.
	SignOut func() error
	// Copy puts text on the clipboard, or says why it could not.
	Copy func(text string) error
}
