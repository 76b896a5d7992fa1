package splitdns

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// BenchmarkAnswerRatio measures the resolver's answer latency for an app
// name against a trivial miekg/dns server answering one fixed A record,
// the resolver holding 101 apps, both over loopback UDP with the same client, in rounds of 200 queries
// each, back to back, the order swapped every round (issue 9: DNS answer
// latency for app names). Reported: µs per answer of each and their ratio.
func BenchmarkAnswerRatio(b *testing.B) {
	s, err := Listen("127.0.0.1:0", DefaultDomain)
	if err != nil {
		b.Fatalf("Listen: %v", err)
	}
	defer s.Close()
	apps := make([]api.AppInfo, 0, 100)
	for i := range 100 {
		apps = append(apps, api.AppInfo{Name: fmt.Sprintf("app%d", i), VirtualIP: net.IPv4(100, 80, 0, byte(i+1)).String()})
	}
	apps = append(apps, api.AppInfo{Name: "grafana", VirtualIP: "100.80.1.7"})
	s.SetApps(apps)
	trivial := fixedServer(b)

	c := &dns.Client{Net: "udp"}
	dial := func(addr string) *dns.Conn {
		conn, err := c.Dial(addr)
		if err != nil {
			b.Fatalf("Dial %s: %v", addr, err)
		}
		b.Cleanup(func() { conn.Close() })
		return conn
	}
	conns := []*dns.Conn{dial(s.UDPAddr().String()), dial(trivial)}
	m := query("grafana.gatehouse.", dns.TypeA)
	const round = 200
	var spent [2]time.Duration
	rounds := 0
	for b.Loop() {
		for k := range 2 {
			i := (rounds + k) % 2
			start := time.Now()
			for range round {
				r, _, err := c.ExchangeWithConn(m, conns[i])
				if err != nil || len(r.Answer) != 1 {
					b.Fatalf("ExchangeWithConn (server %d) = %v, %v, want one A", i, r, err)
				}
			}
			spent[i] += time.Since(start)
		}
		rounds++
	}
	us := func(i int) float64 { return float64(spent[i].Microseconds()) / float64(rounds*round) }
	b.ReportMetric(us(0), "µs-splitdns")
	b.ReportMetric(us(1), "µs-trivial")
	b.ReportMetric(us(0)/us(1), "splitdns/trivial")
}

// fixedServer is the baseline: a miekg/dns server on loopback UDP that
// answers every query with the same A record and nothing else.
func fixedServer(b *testing.B) string {
	b.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatalf("listen: %v", err)
	}
	rr, err := dns.NewRR("grafana.gatehouse. 5 IN A 100.80.1.7")
	if err != nil {
		b.Fatalf("NewRR: %v", err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
			resp := new(dns.Msg)
			resp.SetReply(req)
			resp.Answer = []dns.RR{rr}
			w.WriteMsg(resp)
		})}
	go srv.ActivateAndServe()
	<-started
	b.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}
