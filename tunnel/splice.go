package tunnel

import (
	"io"
	"net"
	"sync"
)

// Splice copies both ways between a and b until both directions end, then
// closes both. A clean end of one direction is passed on as a half-close;
// an error on either side (a reset, a Close by a revocation) ends both at
// once, so neither application is left hanging.
func Splice(a, b net.Conn) {
	var wg sync.WaitGroup
	cp := func(dst, src net.Conn) {
		defer wg.Done()
		_, err := io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok && err == nil && cw.CloseWrite() == nil {
			return
		}
		a.Close()
		b.Close()
	}
	wg.Add(2)
	go cp(a, b)
	go cp(b, a)
	wg.Wait()
	a.Close()
	b.Close()
}
