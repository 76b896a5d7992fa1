// Package ipam hands out the controller's addresses: tunnels' overlay /32s
// and apps' virtual IPs, from one kind of pool behind the Allocator
// interface, so a store-backed allocator (for HA replicas sharing a
// database) can replace the in-memory one.
//
// Imported by controller and controller/grants.
package ipam

import (
	"fmt"
	"net/netip"
	"sync"
)

// The address plan: every tunnel gets an overlay /32 from OverlayPrefix
// (unless the controller is configured otherwise); every app a virtual IP
// from AppPrefix. Agents route AppPrefix into each tunnel and the gateway
// decides what may pass.
func OverlayPrefix() netip.Prefix { return netip.MustParsePrefix("100.64.0.0/12") }

// AppPrefix is where apps' virtual IPs come from.
func AppPrefix() netip.Prefix { return netip.MustParsePrefix("100.80.0.0/16") }

// Allocator hands out addresses of one prefix.
type Allocator interface {
	// Take returns an address nobody holds, or an error naming the
	// exhausted prefix.
	Take() (netip.Addr, error)
	// Mark records a as held (in use before this allocator knew it, e.g.
	// loaded from the store); Take never returns it until it is released.
	Mark(a netip.Addr)
	// Release gives a back; releasing one not held does nothing.
	Release(a netip.Addr)
}

// Pool is the in-memory Allocator. Fresh addresses go first and released
// ones are reused oldest first, so an address is handed out again as late
// as possible: packets still queued for its last holder never reach the
// next one.
type Pool struct {
	prefix netip.Prefix
	mu     sync.Mutex // guards next, free and used
	next   netip.Addr // the next fresh address
	free   []netip.Addr
	used   map[netip.Addr]bool
}

var _ Allocator = (*Pool)(nil)

// NewPool hands out the addresses of p, skipping its network address.
func NewPool(p netip.Prefix) *Pool {
	return &Pool{prefix: p, next: p.Addr().Next(), used: map[netip.Addr]bool{}}
}

// Prefix is the prefix the pool hands out.
func (p *Pool) Prefix() netip.Prefix { return p.prefix }

func (p *Pool) Take() (netip.Addr, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.prefix.Contains(p.next) {
		a := p.next
		p.next = a.Next()
		if !p.used[a] {
			p.used[a] = true
			return a, nil
		}
	}
	if len(p.free) > 0 {
		a := p.free[0]
		p.free = p.free[1:]
		p.used[a] = true
		return a, nil
	}
	return netip.Addr{}, fmt.Errorf("no addresses left in %s", p.prefix)
}

func (p *Pool) Mark(a netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.used[a] = true
}

func (p *Pool) Release(a netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.used[a] {
		delete(p.used, a)
		p.free = append(p.free, a)
	}
}
