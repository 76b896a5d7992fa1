package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/internal/testenv"
)

// Sites is a small internet of network namespaces for standalone
// gateways: a client (alice's laptop), the controller and two sites share
// a "wan" bridge on 10.210.0.0/24; behind each site, on a link of its own,
// an app host only that site can reach.
type Sites struct {
	Client, Controller string // namespaces
	Site, App          [2]string
	// Addr is each namespace's address: on the wan for client, controller
	// and sites, on its site's private link for an app host.
	Addr map[string]string
}

// NewSites makes the namespaces and links; Cleanup deletes them.
func NewSites(t testing.TB) *Sites {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "needs root to make network namespaces (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		testenv.SkipOrFail(t, "needs iproute2's ip to make network namespaces")
	}
	tag := fmt.Sprintf("gs%d", os.Getpid()%100000)
	s := &Sites{Client: tag + "-cli", Controller: tag + "-ctl", Addr: map[string]string{}}
	wan := tag + "-wan"
	for i := range 2 {
		s.Site[i] = fmt.Sprintf("%s-site%d", tag, i)
		s.App[i] = fmt.Sprintf("%s-app%d", tag, i)
	}
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	all := []string{wan, s.Client, s.Controller, s.Site[0], s.Site[1], s.App[0], s.App[1]}
	for _, ns := range all {
		ip("netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		ip("-n", ns, "link", "set", "lo", "up")
	}
	ip("-n", wan, "link", "add", "br0", "type", "bridge")
	ip("-n", wan, "link", "set", "br0", "up")
	for i, ns := range []string{s.Client, s.Controller, s.Site[0], s.Site[1]} {
		port := fmt.Sprintf("p%d", i)
		ip("-n", wan, "link", "add", port, "type", "veth", "peer", "name", "wan0", "netns", ns)
		ip("-n", wan, "link", "set", port, "master", "br0")
		ip("-n", wan, "link", "set", port, "up")
		s.Addr[ns] = fmt.Sprintf("10.210.0.%d", i+1)
		ip("-n", ns, "addr", "add", s.Addr[ns]+"/24", "dev", "wan0")
		ip("-n", ns, "link", "set", "wan0", "up")
	}
	for i := range 2 {
		site, app := s.Site[i], s.App[i]
		ip("-n", site, "link", "add", "lan0", "type", "veth", "peer", "name", "lan0", "netns", app)
		ip("-n", site, "addr", "add", fmt.Sprintf("10.211.%d.1/24", i), "dev", "lan0")
		ip("-n", app, "addr", "add", fmt.Sprintf("10.211.%d.2/24", i), "dev", "lan0")
		ip("-n", site, "link", "set", "lan0", "up")
		ip("-n", app, "link", "set", "lan0", "up")
		s.Addr[app] = fmt.Sprintf("10.211.%d.2", i)
	}
	return s
}

// TestSitesAreApart checks the topology the standalone-gateway tests rely
// on: the client reaches the controller and both sites, never an app
// host; each site reaches its own app host and not the other's.
func TestSitesAreApart(t *testing.T) {
	s := NewSites(t)
	for i := range 2 {
		serveApp(t, s.App[i], net.JoinHostPort(s.Addr[s.App[i]], "80"), fmt.Sprintf("app %d", i))
	}
	reach := func(from, addr string) bool {
		var c net.Conn
		err := inNetns(from, func() (err error) {
			c, err = net.DialTimeout("tcp", addr, 300*time.Millisecond)
			return err
		})
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	tests := []struct {
		from, to string
		want     bool
	}{
		{s.Site[0], s.App[0], true},
		{s.Site[1], s.App[1], true},
		{s.Site[0], s.App[1], false},
		{s.Site[1], s.App[0], false},
		{s.Client, s.App[0], false},
		{s.Client, s.App[1], false},
		{s.Controller, s.App[0], false},
	}
	for _, tt := range tests {
		if got := reach(tt.from, net.JoinHostPort(s.Addr[tt.to], "80")); got != tt.want {
			t.Errorf("%s reaches %s:80 = %v, want %v", tt.from, tt.to, got, tt.want)
		}
	}
	// And the wan works: the client and the sites reach the controller.
	ctl := net.JoinHostPort(s.Addr[s.Controller], "8443")
	serveApp(t, s.Controller, ctl, "controller")
	for _, from := range []string{s.Client, s.Site[0], s.Site[1]} {
		if !reach(from, ctl) {
			t.Errorf("%s cannot reach the controller at %s", from, ctl)
		}
	}
}
