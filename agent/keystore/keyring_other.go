//go:build !linux && !darwin && !windows

package keystore

// keyringName is the OS keyring go-keyring speaks to here.
const keyringName = "Secret Service"
