//go:build !linux

package main

import "syscall"

// childAttr: only Linux starts window children (gui/sni).
func childAttr() *syscall.SysProcAttr { return nil }
