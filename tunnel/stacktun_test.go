package tunnel

import (
	"bytes"
	"fmt"
	"testing"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// TestStackTUNReadTakesWhatIsQueued checks that WireGuard gets the packets
// the netstack queued in batches, not one per Read: a batch is what lets
// WireGuard send them with one system call (see stackTUN.Read).
func TestStackTUNReadTakesWhatIsQueued(t *testing.T) {
	tests := []struct {
		name   string
		queued int
		bufs   int
		want   []int // packets each Read returns
	}{
		{name: "one", queued: 1, bufs: 8, want: []int{1}},
		{name: "all queued in one read", queued: 5, bufs: 8, want: []int{5}},
		{name: "no more than the buffers", queued: 5, bufs: 2, want: []int{2, 2, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := newStackTUN(DefaultMTU)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			var sent [][]byte
			var pkts stack.PacketBufferList
			for i := range tt.queued {
				p := []byte(fmt.Sprintf("packet %d", i))
				sent = append(sent, p)
				pkts.PushBack(stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(p)}))
			}
			if n, err := st.ep.WritePackets(pkts); err != nil || n != tt.queued {
				t.Fatalf("queue %d packets: %d, %v", tt.queued, n, err)
			}
			pkts.DecRef()

			const offset = 16 // WireGuard's room for its header
			var got [][]byte
			for i, want := range tt.want {
				bufs, sizes := make([][]byte, tt.bufs), make([]int, tt.bufs)
				for j := range bufs {
					bufs[j] = make([]byte, offset+DefaultMTU)
				}
				n, err := st.Read(bufs, sizes, offset)
				if err != nil || n != want {
					t.Fatalf("Read %d with %d packets queued and %d buffers = %d, %v; want %d", i, tt.queued, tt.bufs, n, err, want)
				}
				for j := range n {
					got = append(got, bufs[j][offset:offset+sizes[j]])
				}
			}
			if len(got) != len(sent) {
				t.Fatalf("read %d packets, want %d", len(got), len(sent))
			}
			for i := range sent {
				if !bytes.Equal(got[i], sent[i]) {
					t.Errorf("packet %d = %q, want %q (in order, whole)", i, got[i], sent[i])
				}
			}
		})
	}
}
