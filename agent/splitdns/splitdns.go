package splitdns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// DefaultDomain is the domain the resolver answers for until told another
// (api.DefaultDNSDomain: APP.gatehouse).
const DefaultDomain = api.DefaultDNSDomain

// TTL is the lifetime of an answer: short, so a changed app list (an app
// added, removed or moved) reaches programs within seconds.
const TTL = 5 * time.Second

// Server answers DNS queries for one domain from the user's app list, over
// UDP and TCP on one address.
type Server struct {
	mu   sync.Mutex // guards zone and apps
	zone string     // "gatehouse." lower case, fully qualified
	apps map[string]netip.Addr

	udp, tcp *dns.Server
	udpAddr  net.Addr
	tcpAddr  net.Addr
}

// Listen starts a resolver for domain (e.g. "gatehouse") on addr
// ("127.0.0.1:0" picks a port; UDP and TCP share the port). It answers
// NXDOMAIN for every name until SetApps is called. Close stops it.
func Listen(addr, domain string) (*Server, error) {
	zone, err := zoneOf(domain)
	if err != nil {
		return nil, err
	}
	s := &Server{zone: zone, apps: map[string]netip.Addr{}}
	tcpLn, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("split DNS: listen on %s/tcp: %w", addr, err)
	}
	// The UDP socket takes the TCP listener's port, so ":0" gives one port.
	udpConn, err := net.ListenPacket("udp", tcpLn.Addr().String())
	if err != nil {
		tcpLn.Close()
		return nil, fmt.Errorf("split DNS: listen on %s/udp: %w", tcpLn.Addr(), err)
	}
	s.udpAddr, s.tcpAddr = udpConn.LocalAddr(), tcpLn.Addr()
	h := dns.HandlerFunc(s.serveDNS)
	s.udp = &dns.Server{PacketConn: udpConn, Handler: h, MsgAcceptFunc: acceptQuery}
	s.tcp = &dns.Server{Listener: tcpLn, Handler: h, MsgAcceptFunc: acceptQuery,
		ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, MaxTCPQueries: 16}
	started := make(chan error, 2)
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		srv.NotifyStartedFunc = func() { started <- nil }
		go func() {
			if err := srv.ActivateAndServe(); err != nil {
				started <- err
			}
		}()
	}
	for range 2 {
		if err := <-started; err != nil {
			s.Close()
			return nil, fmt.Errorf("split DNS: serve on %s: %w", s.tcpAddr, err)
		}
	}
	return s, nil
}

// zoneOf is domain as a zone name: lower case, fully qualified.
func zoneOf(domain string) (string, error) {
	zone := dns.CanonicalName(strings.Trim(domain, "."))
	if _, ok := dns.IsDomainName(zone); zone == "." || !ok {
		return "", fmt.Errorf("split DNS domain %q is not a domain name: give one such as %q", domain, DefaultDomain)
	}
	return zone, nil
}

// SetDomain makes the resolver answer for domain from now on (the
// controller's domain changed); the old one is REFUSED like any other
// name outside it. A name that is no domain changes nothing.
func (s *Server) SetDomain(domain string) error {
	zone, err := zoneOf(domain)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.zone = zone
	s.mu.Unlock()
	return nil
}

// UDPAddr and TCPAddr are the addresses the resolver listens on.
func (s *Server) UDPAddr() net.Addr { return s.udpAddr }

// TCPAddr: see UDPAddr.
func (s *Server) TCPAddr() net.Addr { return s.tcpAddr }

// SetApps replaces the app list the resolver answers from (the whole list
// the controller sent: apps the user is entitled to, including those
// currently denied, whose tunnel gives the reason). Apps without a valid
// virtual IP are left out (NXDOMAIN).
func (s *Server) SetApps(apps []api.AppInfo) {
	m := make(map[string]netip.Addr, len(apps))
	for _, a := range apps {
		ip, err := netip.ParseAddr(a.VirtualIP)
		if err != nil || a.Name == "" {
			continue
		}
		m[strings.ToLower(a.Name)] = ip.Unmap()
	}
	s.mu.Lock()
	s.apps = m
	s.mu.Unlock()
}

// Close stops both listeners.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return errors.Join(s.udp.ShutdownContext(ctx), s.tcp.ShutdownContext(ctx))
}

// acceptQuery refuses, before parsing the body, what is not a plain query
// with exactly one question: miekg's default also lets through NOTIFY and
// messages with up to 2 answer records.
func acceptQuery(dh dns.Header) dns.MsgAcceptAction {
	if dh.Bits&(1<<15) != 0 { // QR: a response, never answered
		return dns.MsgIgnore
	}
	if opcode := int(dh.Bits>>11) & 0xF; opcode != dns.OpcodeQuery {
		return dns.MsgRejectNotImplemented
	}
	if dh.Qdcount != 1 || dh.Ancount != 0 || dh.Nscount != 0 || dh.Arcount > 1 {
		return dns.MsgReject // FORMERR; Arcount 1 allows an EDNS0 OPT record
	}
	return dns.MsgAccept
}

// serveDNS answers one query from this host; acceptQuery has already
// checked its shape.
func (s *Server) serveDNS(w dns.ResponseWriter, req *dns.Msg) {
	if !fromThisHost(w.RemoteAddr(), w.LocalAddr()) {
		// Another host routed a query to the link's address (Linux
		// accepts a packet for any local address on any interface): no
		// answer at all, so the resolver tells other hosts nothing and
		// reflects nothing.
		w.Close()
		return
	}
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	resp.RecursionAvailable = false
	resp.Rcode = s.answer(req.Question[0], resp)
	_ = w.WriteMsg(resp)
}

// answer fills resp's answer section for q and returns its rcode.
func (s *Server) answer(q dns.Question, resp *dns.Msg) int {
	if q.Qclass != dns.ClassINET {
		return dns.RcodeNotImplemented
	}
	name := dns.CanonicalName(q.Name)
	s.mu.Lock()
	zone := s.zone
	s.mu.Unlock()
	if name == zone {
		return dns.RcodeSuccess // the domain itself exists, with no records
	}
	if !dns.IsSubDomain(zone, name) {
		return dns.RcodeRefused // not ours: never recursive, never forwarded
	}
	app := strings.TrimSuffix(name, "."+zone)
	s.mu.Lock()
	ip, ok := s.apps[app]
	s.mu.Unlock()
	if !ok || strings.Contains(app, ".") {
		return dns.RcodeNameError
	}
	if q.Qtype == dns.TypeA && ip.Is4() {
		resp.Answer = append(resp.Answer, &dns.A{
			Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: uint32(TTL / time.Second)},
			A:   ip.AsSlice(),
		})
	}
	if q.Qtype == dns.TypeAAAA && ip.Is6() {
		resp.Answer = append(resp.Answer, &dns.AAAA{
			Hdr:  dns.RR_Header{Name: q.Name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: uint32(TTL / time.Second)},
			AAAA: ip.AsSlice(),
		})
	}
	return dns.RcodeSuccess // other types, or the other family: NODATA
}

// fromThisHost reports whether a query from remote to local came from a
// process on this host: its source is a loopback address or the address
// the resolver listens on, which is where the kernel sources a local
// process's packets to that address. A packet from elsewhere claiming
// either source is dropped by the kernel as martian before it gets here.
func fromThisHost(remote, local net.Addr) bool {
	r, l := addrOf(remote), addrOf(local)
	return r.IsValid() && (r.IsLoopback() || r == l)
}

func addrOf(a net.Addr) netip.Addr {
	var ip net.IP
	switch a := a.(type) {
	case *net.UDPAddr:
		ip = a.IP
	case *net.TCPAddr:
		ip = a.IP
	default:
		return netip.Addr{}
	}
	addr, _ := netip.AddrFromSlice(ip)
	return addr.Unmap()
}
