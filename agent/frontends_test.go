package agent

import (
	"context"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/agent/frontend"
	"github.com/gatehouse-ztna/gatehouse/api"
)

type stubFront struct {
	addr   string
	stats  frontend.Stats
	apps   []api.AppInfo
	closed bool
}

func (f *stubFront) SetApps(_ context.Context, apps []api.AppInfo) { f.apps = apps }
func (f *stubFront) LocalAddr(string, uint16) string               { return f.addr }
func (f *stubFront) Stats() frontend.Stats                         { return f.stats }
func (f *stubFront) Close()                                        { f.closed = true }

func TestFrontendsActAsOne(t *testing.T) {
	proxyPorts := &stubFront{stats: frontend.Stats{RefusedCallers: 1, RefusedRequests: 2}}
	socks := &stubFront{addr: "127.0.0.1:1080", stats: frontend.Stats{RefusedCallers: 3, RefusedRequests: 4}}
	fs := frontends{proxyPorts, socks}
	apps := []api.AppInfo{{Name: "grafana", Ports: []uint16{3000}}}
	fs.SetApps(context.Background(), apps)
	if len(proxyPorts.apps) != 1 || len(socks.apps) != 1 {
		t.Errorf("SetApps reached %d and %d apps, want 1 and 1", len(proxyPorts.apps), len(socks.apps))
	}
	if got := fs.LocalAddr("grafana", 3000); got != "127.0.0.1:1080" {
		t.Errorf("LocalAddr = %q, want the first front-end that has one", got)
	}
	proxyPorts.addr = "127.0.0.1:17000"
	if got := fs.LocalAddr("grafana", 3000); got != "127.0.0.1:17000" {
		t.Errorf("LocalAddr = %q, want the proxy port first", got)
	}
	if got, want := fs.Stats(), (frontend.Stats{RefusedCallers: 4, RefusedRequests: 6}); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
	fs.Close()
	if !proxyPorts.closed || !socks.closed {
		t.Error("Close did not close every front-end")
	}
}
