//go:build race

package e2e

// raceBuild: the race detector slows the gateway's packet path about
// tenfold, so load tests scale their offered load down.
const raceBuild = true
