//go:build !unix

package keystore

import "os"

// checkPrivate is a no-op where file modes do not say who may read a
// file (Windows: its ACLs); there the OS keyring is always present.
func checkPrivate(string, os.FileInfo, os.FileMode) error { return nil }
