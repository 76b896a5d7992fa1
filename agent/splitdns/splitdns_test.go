package splitdns

import (
	"net"
	"testing"

	"github.com/miekg/dns"

	"github.com/gatehouse-ztna/gatehouse/api"
)

func start(t *testing.T) *Server {
	t.Helper()
	s, err := Listen("127.0.0.1:0", DefaultDomain)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	s.SetApps([]api.AppInfo{{Name: "grafana", VirtualIP: "100.80.0.7"}, {Name: "Wiki", VirtualIP: "100.80.0.8"}})
	return s
}

// exchange sends m over net ("udp" or "tcp") and returns the response.
func exchange(t *testing.T, s *Server, network string, m *dns.Msg) *dns.Msg {
	t.Helper()
	addr := s.UDPAddr().String()
	if network == "tcp" {
		addr = s.TCPAddr().String()
	}
	c := &dns.Client{Net: network}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("Exchange(%v) over %s: %v", m.Question, network, err)
	}
	return r
}

func query(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	return m
}

func TestAnswers(t *testing.T) {
	s := start(t)
	tests := []struct {
		name      string
		in        *dns.Msg
		wantRcode int
		wantA     string // "" means no answer
	}{
		{"A for an app", query("grafana.gatehouse.", dns.TypeA), dns.RcodeSuccess, "100.80.0.7"},
		{"case-insensitive name", query("GraFana.GATEHOUSE.", dns.TypeA), dns.RcodeSuccess, "100.80.0.7"},
		{"app listed in upper case", query("wiki.gatehouse.", dns.TypeA), dns.RcodeSuccess, "100.80.0.8"},
		{"AAAA of an app is NODATA", query("grafana.gatehouse.", dns.TypeAAAA), dns.RcodeSuccess, ""},
		{"unknown app under the domain", query("jenkins.gatehouse.", dns.TypeA), dns.RcodeNameError, ""},
		{"deeper name under the domain", query("x.grafana.gatehouse.", dns.TypeA), dns.RcodeNameError, ""},
		{"outside the domain is refused", query("example.com.", dns.TypeA), dns.RcodeRefused, ""},
		{"suffix lookalike is refused", query("grafana.notgatehouse.", dns.TypeA), dns.RcodeRefused, ""},
		{"app name in another domain is refused", query("grafana.", dns.TypeA), dns.RcodeRefused, ""},
		{"class CH is not implemented", func() *dns.Msg {
			m := query("grafana.gatehouse.", dns.TypeA)
			m.Question[0].Qclass = dns.ClassCHAOS
			return m
		}(), dns.RcodeNotImplemented, ""},
		{"two questions is a format error", func() *dns.Msg {
			m := query("grafana.gatehouse.", dns.TypeA)
			m.Question = append(m.Question, dns.Question{Name: "example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
			return m
		}(), dns.RcodeFormatError, ""},
		{"NOTIFY opcode is not implemented", func() *dns.Msg {
			m := query("grafana.gatehouse.", dns.TypeA)
			m.Opcode = dns.OpcodeNotify
			return m
		}(), dns.RcodeNotImplemented, ""},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, tt := range tests {
			t.Run(network+"/"+tt.name, func(t *testing.T) {
				r := exchange(t, s, network, tt.in)
				if r.Rcode != tt.wantRcode {
					t.Fatalf("%s: rcode = %s, want %s", tt.in.Question[0].Name, dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.wantRcode])
				}
				if r.RecursionAvailable {
					t.Errorf("%s: RA set, want a non-recursive answer", tt.in.Question[0].Name)
				}
				got := ""
				for _, rr := range r.Answer {
					a, ok := rr.(*dns.A)
					if !ok {
						t.Fatalf("%s: answer %v, want only A records", tt.in.Question[0].Name, rr)
					}
					if a.Hdr.Ttl == 0 || a.Hdr.Ttl > 60 {
						t.Errorf("%s: TTL %d, want short (5 s)", tt.in.Question[0].Name, a.Hdr.Ttl)
					}
					got = a.A.String()
				}
				if len(r.Answer) > 1 || got != tt.wantA {
					t.Errorf("%s: answer %v, want A %q", tt.in.Question[0].Name, r.Answer, tt.wantA)
				}
			})
		}
	}
}

func TestSetAppsTakesEffect(t *testing.T) {
	s := start(t)
	s.SetApps([]api.AppInfo{{Name: "jenkins", VirtualIP: "100.80.0.9"}})
	for _, network := range []string{"udp", "tcp"} {
		if r := exchange(t, s, network, query("grafana.gatehouse.", dns.TypeA)); r.Rcode != dns.RcodeNameError {
			t.Errorf("%s: removed app grafana: rcode %s, want NXDOMAIN", network, dns.RcodeToString[r.Rcode])
		}
		r := exchange(t, s, network, query("jenkins.gatehouse.", dns.TypeA))
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || !r.Answer[0].(*dns.A).A.Equal(net.ParseIP("100.80.0.9")) {
			t.Errorf("%s: added app jenkins: %v, want A 100.80.0.9", network, r)
		}
	}
}

func TestOtherDomain(t *testing.T) {
	s, err := Listen("127.0.0.1:0", "corp.example.")
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	defer s.Close()
	s.SetApps([]api.AppInfo{{Name: "grafana", VirtualIP: "100.80.0.7"}})
	if r := exchange(t, s, "udp", query("grafana.corp.example.", dns.TypeA)); len(r.Answer) != 1 {
		t.Errorf("grafana.corp.example: %v, want one A", r)
	}
	if r := exchange(t, s, "udp", query("grafana.gatehouse.", dns.TypeA)); r.Rcode != dns.RcodeRefused {
		t.Errorf("grafana.gatehouse with domain corp.example: rcode %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}
}

func TestSetDomain(t *testing.T) {
	s := start(t)
	if err := s.SetDomain("corp.gatehouse"); err != nil {
		t.Fatalf("SetDomain: %v", err)
	}
	for _, network := range []string{"udp", "tcp"} {
		if r := exchange(t, s, network, query("grafana.corp.gatehouse.", dns.TypeA)); len(r.Answer) != 1 {
			t.Errorf("%s: grafana.corp.gatehouse after SetDomain: %v, want one A", network, r)
		}
		if r := exchange(t, s, network, query("grafana.gatehouse.", dns.TypeA)); r.Rcode != dns.RcodeRefused {
			t.Errorf("%s: grafana.gatehouse after SetDomain(corp.gatehouse): rcode %s, want REFUSED", network, dns.RcodeToString[r.Rcode])
		}
	}
	if err := s.SetDomain("a..b"); err == nil {
		t.Errorf("SetDomain(%q) = nil, want an error", "a..b")
	}
	if r := exchange(t, s, "udp", query("grafana.corp.gatehouse.", dns.TypeA)); len(r.Answer) != 1 {
		t.Errorf("after a refused SetDomain: %v, want the domain unchanged", r)
	}
}

func TestFromThisHost(t *testing.T) {
	tun := &net.UDPAddr{IP: net.ParseIP("169.254.53.8"), Port: 53}
	tests := []struct {
		name   string
		remote net.Addr
		local  net.Addr
		want   bool
	}{
		{"the link's own address", &net.UDPAddr{IP: net.ParseIP("169.254.53.8"), Port: 40000}, tun, true},
		{"loopback", &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: 40000}, tun, true},
		{"over TCP", &net.TCPAddr{IP: net.ParseIP("169.254.53.8"), Port: 40000}, &net.TCPAddr{IP: net.ParseIP("169.254.53.8"), Port: 53}, true},
		{"another host", &net.UDPAddr{IP: net.ParseIP("10.210.0.3"), Port: 40000}, tun, false},
		{"another link-local host", &net.UDPAddr{IP: net.ParseIP("169.254.53.9"), Port: 40000}, tun, false},
		{"no address", nil, tun, false},
	}
	for _, tt := range tests {
		if got := fromThisHost(tt.remote, tt.local); got != tt.want {
			t.Errorf("fromThisHost(%v, %v) = %v, want %v (%s)", tt.remote, tt.local, got, tt.want, tt.name)
		}
	}
}

func TestListenBadDomain(t *testing.T) {
	for _, d := range []string{"", ".", "a..b"} {
		if s, err := Listen("127.0.0.1:0", d); err == nil {
			s.Close()
			t.Errorf("Listen(%q) = nil error, want an error", d)
		}
	}
}

// BenchmarkAnswerUDP measures one A query and its answer over loopback UDP,
// client included (the DNS answer latency of issue 9's benchmarks).
func BenchmarkAnswerUDP(b *testing.B) {
	s, err := Listen("127.0.0.1:0", DefaultDomain)
	if err != nil {
		b.Fatalf("Listen: %v", err)
	}
	defer s.Close()
	s.SetApps([]api.AppInfo{{Name: "grafana", VirtualIP: "100.80.0.7"}})
	c := &dns.Client{Net: "udp"}
	conn, err := c.Dial(s.UDPAddr().String())
	if err != nil {
		b.Fatalf("Dial: %v", err)
	}
	defer conn.Close()
	m := query("grafana.gatehouse.", dns.TypeA)
	for b.Loop() {
		r, _, err := c.ExchangeWithConn(m, conn)
		if err != nil || len(r.Answer) != 1 {
			b.Fatalf("ExchangeWithConn = %v, %v, want one A", r, err)
		}
	}
}
