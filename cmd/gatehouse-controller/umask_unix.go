//go:build unix

package main

import "syscall"

// restrictUmask makes every file and dir the process creates private to
// its user (0600/0700), whatever mode the code asks for.
func restrictUmask() { syscall.Umask(0o077) }
