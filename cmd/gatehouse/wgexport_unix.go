//go:build !windows

package main

import "os"

// worldWritable reports whether anyone may write into the directory fi.
func worldWritable(fi os.FileInfo) bool { return fi.Mode().Perm()&0o002 != 0 }
