//go:build darwin || windows

package keystore

// sessionBus is always there: the keyring is the OS's own service.
func sessionBus() error { return nil }
