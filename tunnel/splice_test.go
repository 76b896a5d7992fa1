package tunnel

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// splicedPair is app ⇄ [a Splice b] ⇄ upstream, all kernel TCP.
func splicedPair(t *testing.T) (app, upstream *net.TCPConn, done chan struct{}) {
	app, a := tcpPair(t)
	b, upstream := tcpPair(t)
	done = make(chan struct{})
	go func() {
		defer close(done)
		Splice(a, b)
	}()
	return app, upstream, done
}

func TestSpliceEndsWithTheUpstreamsEnd(t *testing.T) {
	tests := []struct {
		name    string
		end     func(*net.TCPConn) // how the upstream ends
		wantErr error              // what the app reads after the data
	}{
		{"upstream closes normally: the app gets every byte, then EOF", func(c *net.TCPConn) { c.Close() }, io.EOF},
		{"upstream resets: the app gets a reset", func(c *net.TCPConn) { Abort(c) }, syscall.ECONNRESET},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app, upstream, done := splicedPair(t)
			if _, err := upstream.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 5)
			if _, err := io.ReadFull(app, buf); err != nil {
				t.Fatalf("read through Splice: %v", err)
			}
			tt.end(upstream)
			app.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err := app.Read(buf)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Read after the upstream ended = %v, want %v", err, tt.wantErr)
			}
			app.Close()
			<-done
		})
	}
}

// TestSpliceHalfClosePassesOn: the app's half-close reaches the upstream,
// whose answer still comes back.
func TestSpliceHalfClosePassesOn(t *testing.T) {
	app, upstream, done := splicedPair(t)
	app.Write([]byte("ask"))
	app.CloseWrite()
	got, err := io.ReadAll(upstream)
	if err != nil || string(got) != "ask" {
		t.Fatalf("upstream read %q, %v, want %q then EOF", got, err, "ask")
	}
	upstream.Write([]byte("answer"))
	upstream.Close()
	got, err = io.ReadAll(app)
	if err != nil || string(got) != "answer" {
		t.Errorf("app read %q, %v, want %q then EOF", got, err, "answer")
	}
	<-done
}

// TestAbortDropsQueuedData: after Abort the other end reads at most what
// had already reached its own receive queue, then a reset; what was still
// queued on the aborting side never arrives.
func TestAbortDropsQueuedData(t *testing.T) {
	reader, writer := tcpPair(t)
	reader.SetReadBuffer(16 << 10) // a small window, so most data stays with the writer
	writer.SetWriteBuffer(4 << 20)
	writer.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	sent := 0
	chunk := make([]byte, 64<<10)
	for {
		n, err := writer.Write(chunk)
		sent += n
		if err != nil {
			break // the writer's queue is full
		}
	}
	if err := Abort(writer); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	reader.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.Copy(io.Discard, reader)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("read after Abort = %v, want ECONNRESET", err)
	}
	if got >= int64(sent) {
		t.Errorf("reader got %d of %d bytes queued before Abort, want the writer's queue dropped", got, sent)
	}
}
