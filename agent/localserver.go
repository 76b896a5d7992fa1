package agent

import (
	"encoding/json"
	"net/http"
	"sort"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
)

// serveLocalAPI listens on path (listenLocalAPI: a unix socket, or a
// named pipe on Windows) and serves the local API to the callers
// allowCaller admits.
func (a *Agent) serveLocalAPI(path string) (*http.Server, error) {
	l, err := a.listenLocalAPI(path)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+localapi.PathStatus, func(w http.ResponseWriter, _ *http.Request) { reply(w, a.Status()) })
	mux.HandleFunc("GET "+localapi.PathApps, func(w http.ResponseWriter, _ *http.Request) { reply(w, a.Apps()) })
	mux.HandleFunc("GET "+localapi.PathPosture, func(w http.ResponseWriter, _ *http.Request) { reply(w, a.Posture()) })
	mux.HandleFunc("POST "+localapi.PathConnect, a.serveConnect)
	mux.HandleFunc("POST "+localapi.PathLogin, a.serveLogin)
	mux.HandleFunc("GET "+localapi.PathLogin, func(w http.ResponseWriter, _ *http.Request) { reply(w, a.LoginState()) })
	mux.HandleFunc("POST "+localapi.PathLogout, a.serveLogout)
	mux.HandleFunc("POST "+localapi.PathRequest, a.serveRequest)
	mux.HandleFunc("GET "+localapi.PathWatch, a.serveWatch)
	mux.HandleFunc("POST "+localapi.PathWireGuardConfig, a.serveExport)
	mux.HandleFunc("DELETE "+localapi.PathWireGuardConfig, a.serveReleaseExport)
	srv := &http.Server{Handler: a.allowCaller(mux), ConnContext: callerContext}
	go srv.Serve(l)
	return srv, nil
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// Status is the agent's state for `gatehouse status`.
func (a *Agent) Status() localapi.Status {
	stats := a.front.Stats()
	connected, lastErr := a.control.Connected(), a.control.LastError()
	sess := a.sessionStatus()
	a.mu.Lock()
	defer a.mu.Unlock()
	s := localapi.Status{Controller: a.st.Controller, DeviceID: a.st.DeviceID, User: a.st.User,
		Connected: connected, LastError: lastErr, SecretsIn: a.cfg.Secrets.Where(), Session: sess, Tunnels: []localapi.Tunnel{},
		LocalUser: a.localUser.name, RefusedCallers: stats.RefusedCallers, RefusedRequests: stats.RefusedRequests,
		DNSDomain: a.domain, TUN: a.tunName}
	if a.dns != nil {
		s.DNSResolver, s.DNSVia = a.dns.Addr(), a.dns.Via()
	}
	for _, t := range a.tunnels {
		t.mu.Lock()
		s.Tunnels = append(s.Tunnels, localapi.Tunnel{App: t.app, PublicKey: t.pub.String(), OverlayAddr: t.grant.OverlayAddr,
			VirtualIP: t.grant.VirtualIP, ExpiresAt: t.expires, OpenConns: t.flows})
		t.mu.Unlock()
	}
	sort.Slice(s.Tunnels, func(i, j int) bool { return s.Tunnels[i].App < s.Tunnels[j].App })
	for app := range a.exports {
		s.Exported = append(s.Exported, app)
	}
	sort.Strings(s.Exported)
	return s
}

// Apps lists every app the user is entitled to with its decision and
// local addresses, then the other apps they asked for, denied.
func (a *Agent) Apps() []localapi.App {
	a.mu.Lock()
	out := make([]localapi.App, 0, len(a.apps))
	for _, app := range a.apps {
		d := a.decisions[app.Name]
		v := localapi.App{Name: app.Name, Allowed: d.Allowed, Reasons: d.Reasons, TunnelUp: a.tunnels[app.Name] != nil, LocalAddrs: []string{},
			AccessUntil: d.AccessUntil, DNSName: app.Name + "." + a.domain}
		if a.tunName != "" {
			v.VirtualIP = app.VirtualIP
		}
		out = append(out, v)
	}
	// Then the apps outside the user's entitlement that they asked for,
	// each with its decision (a denial, and why).
	listed := make(map[string]bool, len(a.apps))
	for _, app := range a.apps {
		listed[app.Name] = true
	}
	var asked []localapi.App
	for name, d := range a.decisions {
		if !listed[name] {
			asked = append(asked, localapi.App{Name: name, Allowed: d.Allowed, Reasons: d.Reasons, LocalAddrs: []string{}})
		}
	}
	sort.Slice(asked, func(i, j int) bool { return asked[i].Name < asked[j].Name })
	apps := a.apps
	a.mu.Unlock()
	// The front-end is asked without a.mu held: it never calls back under
	// its own lock, and this keeps the two locks unordered.
	for i, app := range apps {
		for _, p := range app.Ports {
			if addr := a.front.LocalAddr(app.Name, p); addr != "" {
				out[i].LocalAddrs = append(out[i].LocalAddrs, addr)
			}
		}
	}
	return append(out, asked...)
}

// Posture is the latest report and the controller's checks on it.
func (a *Agent) Posture() localapi.Posture {
	a.mu.Lock()
	defer a.mu.Unlock()
	return localapi.Posture{Report: a.report, Checks: a.checks}
}

// LocalAddr is where app's port is reachable on this device, or "".
func (a *Agent) LocalAddr(app string, port uint16) string {
	return a.front.LocalAddr(app, port)
}
