//go:build !unix

package main

// restrictUmask does nothing where there is no umask (Windows: the data
// dir's ACL, inherited from its parent, is what protects it).
func restrictUmask() {}
