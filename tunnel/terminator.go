package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.zx2c4.com/wireguard/tun"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// terminatorOffset is the head room left before each packet in the
// buffers passed to the host device (its virtio header, when it has one).
const terminatorOffset = 16

// pumpRetry is how long a packet pump waits after a device error.
const pumpRetry = 10 * time.Millisecond

// maxTerminatorInFlight caps the handshakes a Terminator has in progress.
const maxTerminatorInFlight = 256

// FlowRequest is a TCP SYN a Terminator received from the host: the
// handshake is held until Accept or Refuse.
type FlowRequest struct {
	Src, Dst netip.AddrPort
	r        *tcp.ForwarderRequest
	done     bool
}

// Accept completes the handshake and returns the flow. An error means the
// host side went away; the request is answered with a reset.
func (q *FlowRequest) Accept() (*Flow, error) {
	q.done = true
	var wq waiter.Queue
	ep, tcpErr := q.r.CreateEndpoint(&wq)
	if tcpErr != nil {
		q.r.Complete(true)
		return nil, fmt.Errorf("accept %s → %s: %v", q.Src, q.Dst, tcpErr)
	}
	q.r.Complete(false)
	ep.SocketOptions().SetKeepAlive(true)
	return &Flow{Src: q.Src, Dst: q.Dst, Conn: gonet.NewTCPConn(&wq, ep), ep: ep}, nil
}

// Refuse answers the SYN with a reset, so the host application's connect
// fails at once.
func (q *FlowRequest) Refuse() {
	q.done = true
	q.r.Complete(true)
}

// Terminator ends the host's TCP connections in a user-space stack: every
// packet the host routes into dev (a TUN interface) reaches a gVisor
// netstack that answers for any destination, and each new TCP flow is
// handed to Handle before its handshake completes.
type Terminator struct {
	dev    tun.Device
	st     *stackTUN
	handle func(*FlowRequest)
	wg     sync.WaitGroup // the two packet pumps
	once   sync.Once
}

// NewTerminator starts terminating the TCP flows routed into dev. handle
// runs on its own goroutine per SYN and must Accept or Refuse the request
// (one it leaves undecided is refused when it returns).
func NewTerminator(dev tun.Device, handle func(*FlowRequest)) (*Terminator, error) {
	mtu, err := dev.MTU()
	if err != nil {
		return nil, fmt.Errorf("TUN device MTU: %w", err)
	}
	st, err := newStackTUN(mtu)
	if err != nil {
		return nil, err
	}
	if err := st.promiscuous(); err != nil {
		st.Close()
		return nil, err
	}
	t := &Terminator{dev: dev, st: st, handle: handle}
	fwd := tcp.NewForwarder(st.stack, 0, maxTerminatorInFlight, t.serve)
	st.stack.SetTransportProtocolHandler(tcp.ProtocolNumber, fwd.HandlePacket)
	t.wg.Add(2)
	go t.pump(st, dev)
	go t.pump(dev, st)
	return t, nil
}

func (t *Terminator) serve(r *tcp.ForwarderRequest) {
	id := r.ID()
	q := &FlowRequest{Src: netip.AddrPortFrom(addrFrom(id.RemoteAddress), id.RemotePort),
		Dst: netip.AddrPortFrom(addrFrom(id.LocalAddress), id.LocalPort), r: r}
	t.handle(q)
	if !q.done {
		q.Refuse()
	}
}

// pump copies packets from src to dst until either is closed.
func (t *Terminator) pump(dst, src tun.Device) {
	defer t.wg.Done()
	n := max(src.BatchSize(), dst.BatchSize(), 1)
	bufs := make([][]byte, n)
	sizes := make([]int, n)
	for i := range bufs {
		bufs[i] = make([]byte, terminatorOffset+65535)
	}
	out := make([][]byte, n)
	for {
		k, err := src.Read(bufs, sizes, terminatorOffset)
		for i := 0; i < k; i++ {
			out[i] = bufs[i][:terminatorOffset+sizes[i]]
		}
		if k > 0 {
			if _, werr := dst.Write(out[:k], terminatorOffset); werr != nil && isClosed(werr) {
				return
			}
		}
		switch {
		case err == nil, errors.Is(err, tun.ErrTooManySegments):
		case isClosed(err):
			return
		default:
			// A device error that is not its end (the interface taken
			// down under us): retry without spinning.
			time.Sleep(pumpRetry)
		}
	}
}

func isClosed(err error) bool {
	return errors.Is(err, os.ErrClosed) || errors.Is(err, context.Canceled)
}

// Close stops the netstack and closes dev; flows already accepted end
// with a reset.
func (t *Terminator) Close() error {
	var err error
	t.once.Do(func() {
		t.st.flush(100 * time.Millisecond)
		t.st.Close()
		err = t.dev.Close()
		t.wg.Wait()
	})
	return err
}
