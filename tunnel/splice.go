package tunnel

import (
	"io"
	"net"
	"sync"
)

// Splice copies both ways between a and b until both directions end, then
// closes both. A clean end of one direction is passed on as a half-close,
// and when both ends finished cleanly both are closed gracefully. An error
// on either side (a reset, a Close by a revocation) aborts both at once
// (see Abort), so neither application is left hanging, nor fed data that
// was queued before the end.
func Splice(a, b net.Conn) {
	var wg sync.WaitGroup
	cp := func(dst, src net.Conn) {
		defer wg.Done()
		_, err := io.Copy(dst, src)
		if err != nil {
			Abort(a)
			Abort(b)
			return
		}
		if cw, ok := dst.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
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

// Abort closes c with a reset where c can do so (a flow through the
// tunnel, a kernel TCP connection, anything with SetLinger): what is still
// queued to send is dropped, and the other end's next read after its
// receive queue fails with ECONNRESET instead of an orderly EOF. Other
// connections are just closed.
func Abort(c net.Conn) error {
	switch c := c.(type) {
	case interface{ Reset() }:
		c.Reset()
	case interface{ SetLinger(sec int) error }:
		c.SetLinger(0) // fails only on a closed conn, which Close reports
	}
	return c.Close()
}
