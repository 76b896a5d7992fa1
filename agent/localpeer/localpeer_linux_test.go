package localpeer

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/internal/testenv"
)

// acceptPair listens on addr, dials it (from from, when set) and returns
// the accepted side and the dialing side.
func acceptPair(t *testing.T, addr string, from *net.TCPAddr) (accepted, dialed *net.TCPConn) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("listen %s: %v", addr, err)
	}
	defer l.Close()
	d := net.Dialer{LocalAddr: from, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	a, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a.(*net.TCPConn), c.(*net.TCPConn)
}

func TestOwnerIsTheCallersUser(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(addr, func(t *testing.T) {
			a, _ := acceptPair(t, addr, nil)
			uid, err := Owner(a)
			if err != nil {
				t.Fatalf("Owner(%s) error: %v", a.RemoteAddr(), err)
			}
			if uid != os.Getuid() {
				t.Errorf("Owner(%s) = %d, want %d", a.RemoteAddr(), uid, os.Getuid())
			}
		})
	}
}

// TestOwnerOfAnotherUsersSocket connects from a child process running as
// nobody (uid 65534): needs root and setpriv.
func TestOwnerOfAnotherUsersSocket(t *testing.T) {
	if os.Getuid() != 0 {
		testenv.SkipOrFail(t, "needs root to run a client as another user")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		testenv.SkipOrFail(t, "needs setpriv (util-linux)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
		"bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/127.0.0.1/%d; read -t 10 line <&3", port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	l.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	uid, err := Owner(c.(*net.TCPConn))
	if err != nil || uid != 65534 {
		t.Errorf("Owner(%s) = %d, %v, want 65534", c.RemoteAddr(), uid, err)
	}
}

// TestOwnerNamesTheExactSocket: another socket with the same port pair on
// other addresses is never the answer (a sock_diag dump filtered by ports,
// as some libraries do, returns it about half the time).
func TestOwnerNamesTheExactSocket(t *testing.T) {
	for i := range 20 {
		srv, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		q := srv.Addr().(*net.TCPAddr).Port
		far, err := net.Listen("tcp", fmt.Sprintf("127.0.0.3:%d", q))
		if err != nil {
			srv.Close()
			t.Fatal(err)
		}
		// Another socket whose port pair is the one the caller will use.
		other, err := net.Dial("tcp", far.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		p := other.LocalAddr().(*net.TCPAddr).Port
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 9), Port: p}}
		c, err := d.Dial("tcp", srv.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		a, err := srv.Accept()
		if err != nil {
			t.Fatal(err)
		}
		got, err := peerSocket(a.(*net.TCPConn))
		want := netip.MustParseAddrPort(c.LocalAddr().String())
		if err != nil || got.src != want {
			t.Errorf("trial %d: peerSocket(%s) = %v, %v, want the socket at %s", i, a.RemoteAddr(), got.src, err, want)
		}
		for _, x := range []io.Closer{a, c, other, far, srv} {
			x.Close()
		}
	}
}

func TestOwnerOfAGoneCallerIsAnError(t *testing.T) {
	a, c := acceptPair(t, "127.0.0.1:0", nil)
	c.SetLinger(0)
	c.Close() // a reset: the caller's socket is gone at once
	if uid, err := Owner(a); err == nil {
		t.Errorf("Owner(%s) = %d, nil; want an error for a caller that is gone", a.RemoteAddr(), uid)
	}
}

func TestUnreadCountsWhatTheCallerHasNotRead(t *testing.T) {
	a, c := acceptPair(t, "127.0.0.1:0", nil)
	const sent = 10000
	if _, err := a.Write(make([]byte, sent)); err != nil {
		t.Fatal(err)
	}
	if got, err := Unread(a); err != nil || got != sent {
		t.Fatalf("Unread after writing %d = %d, %v, want %d", sent, got, err, sent)
	}
	if _, err := io.ReadFull(c, make([]byte, 4000)); err != nil {
		t.Fatal(err)
	}
	if got, err := Unread(a); err != nil || got != sent-4000 {
		t.Errorf("Unread after the caller read 4000 = %d, %v, want %d", got, err, sent-4000)
	}
}

func TestSocketOwnerOfAFlow(t *testing.T) {
	_, c := acceptPair(t, "127.0.0.1:0", nil)
	src, dst := c.LocalAddr().(*net.TCPAddr).AddrPort(), c.RemoteAddr().(*net.TCPAddr).AddrPort()
	uid, err := SocketOwner(src, dst)
	if err != nil || uid != os.Getuid() {
		t.Errorf("SocketOwner(%s, %s) = %d, %v, want %d", src, dst, uid, err, os.Getuid())
	}
	other := netip.AddrPortFrom(dst.Addr(), dst.Port()+1)
	if uid, err := SocketOwner(src, other); err == nil {
		t.Errorf("SocketOwner(%s, %s) of no socket = %d, want an error", src, other, uid)
	}
}
