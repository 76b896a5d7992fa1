package main

import "syscall"

// childAttr makes a window child end with the tray: the kernel sends it
// SIGTERM when the tray dies, however it ends (Quit, a signal, a crash),
// and the child closes its window and exits.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
