package ipam

import (
	"net/netip"
	"slices"
	"testing"
)

// TestAddrPoolOrder: fresh addresses go first, and a freed address comes
// back only once no fresh one is left, the oldest freed first; an
// exhausted pool hands out the zero Addr.
func TestAddrPoolOrder(t *testing.T) {
	a := netip.MustParseAddr
	type step struct {
		give string // when set, release this address instead of taking
		want string // the address take returns ("" for none left)
	}
	tests := []struct {
		name   string
		prefix string
		steps  []step
	}{
		{name: "fresh in order, skipping the network address", prefix: "10.9.0.0/30",
			steps: []step{{want: "10.9.0.1"}, {want: "10.9.0.2"}, {want: "10.9.0.3"}, {want: ""}}},
		{name: "fresh before freed", prefix: "10.9.0.0/29",
			steps: []step{{want: "10.9.0.1"}, {want: "10.9.0.2"}, {give: "10.9.0.1"}, {want: "10.9.0.3"}}},
		{name: "freed oldest first once fresh ones are gone", prefix: "10.9.0.0/30",
			steps: []step{{want: "10.9.0.1"}, {want: "10.9.0.2"}, {want: "10.9.0.3"},
				{give: "10.9.0.2"}, {give: "10.9.0.3"}, {give: "10.9.0.1"},
				{want: "10.9.0.2"}, {want: "10.9.0.3"}, {want: "10.9.0.1"}, {want: ""}}},
		{name: "an address given twice comes back once", prefix: "10.9.0.0/31",
			steps: []step{{want: "10.9.0.1"}, {give: "10.9.0.1"}, {give: "10.9.0.1"}, {want: "10.9.0.1"}, {want: ""}}},
		{name: "an address never taken is not handed out by give", prefix: "10.9.0.0/31",
			steps: []step{{give: "10.9.0.1"}, {want: "10.9.0.1"}, {want: ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPool(netip.MustParsePrefix(tt.prefix))
			for i, s := range tt.steps {
				if s.give != "" {
					p.Release(a(s.give))
					continue
				}
				got, _ := p.Take()
				if want := (netip.Addr{}); s.want != "" {
					want = a(s.want)
					if got != want {
						t.Fatalf("step %d: Take() = %v, want %v", i, got, want)
					}
				} else if got.IsValid() {
					t.Fatalf("step %d: Take() = %v, want none left", i, got)
				}
			}
		})
	}
}

// TestAddrPoolSkipsMarked: addresses already in use (loaded at start) are
// never handed out.
func TestAddrPoolSkipsMarked(t *testing.T) {
	p := NewPool(netip.MustParsePrefix("10.9.0.0/29"))
	p.Mark(netip.MustParseAddr("10.9.0.2"))
	var got []string
	for a, err := p.Take(); err == nil; a, err = p.Take() {
		got = append(got, a.String())
	}
	want := []string{"10.9.0.1", "10.9.0.3", "10.9.0.4", "10.9.0.5", "10.9.0.6", "10.9.0.7"}
	if !slices.Equal(got, want) {
		t.Errorf("Take() until empty = %q, want %q", got, want)
	}
}
