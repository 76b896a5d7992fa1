package agent

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/tunnel"
)

// exportKeepalive is the PersistentKeepalive of an exported config: it
// keeps a NAT mapping toward the gateway open while the tunnel idles.
const exportKeepalive = 25

// export is a grant handed out as a standard WireGuard config: the agent
// builds no tunnel for it, it only keeps the request registered, so the
// controller's renewals are accepted (not released) while the export is
// wanted. The controller renews it only while this agent's session is up
// and the policy passes; the gateway drops the peer on revoke or at the
// lease's end on its own.
type export struct {
	pub   string
	timer Timer // forgets the export at the end of its lease
}

// Export asks for a grant to app under a fresh key pair and returns it as
// a standard WireGuard config. The device holds one grant per app: an
// export replaces the app's tunnel here (the controller replaces the
// grant), and the app's local ports refuse until the export is released.
// A refusal is a *DeniedError.
func (a *Agent) Export(ctx context.Context, app string) (localapi.WireGuardConfig, error) {
	key, err := tunnel.NewPrivateKey()
	if err != nil {
		return localapi.WireGuardConfig{}, err
	}
	a.mu.Lock()
	if a.pending[app] != nil {
		a.mu.Unlock()
		return localapi.WireGuardConfig{}, fmt.Errorf("a request for %s is under way; try again in a moment", app)
	}
	f := &inflight{key: key, done: make(chan struct{}), export: true}
	a.pending[app] = f
	t, old := a.tunnels[app], a.exports[app]
	a.mu.Unlock()
	if t != nil {
		a.detach(t) // the controller replaces its grant with the export's
	}
	if old != nil {
		a.dropExport(app, old.pub, nil)
	}
	if err := a.control.RequestGrant(ctx, api.GrantRequest{App: app, PublicKey: key.Public().String()}); err != nil {
		a.mu.Lock()
		if a.pending[app] == f {
			delete(a.pending, app)
		}
		a.mu.Unlock()
		return localapi.WireGuardConfig{}, fmt.Errorf("ask for a grant to %s: %w", app, err)
	}
	if err := a.awaitGrant(ctx, app, f); err != nil {
		return localapi.WireGuardConfig{}, err
	}
	conf, err := WireGuardConfig(key, f.grant)
	if err != nil {
		return localapi.WireGuardConfig{}, err
	}
	return localapi.WireGuardConfig{App: app, PublicKey: f.grant.PublicKey, Lease: f.grant.Lease, Config: conf}, nil
}

// exportGranted records the export f asked for, unless the request was
// given up meanwhile (then the grant is released).
func (a *Agent) exportGranted(ctx context.Context, f *inflight, g api.Grant) {
	if _, err := WireGuardConfig(f.key, g); err != nil {
		a.mu.Lock()
		if a.pending[g.App] == f {
			delete(a.pending, g.App)
			f.fail(err)
		}
		a.mu.Unlock()
		a.release(ctx, g.App, g.PublicKey)
		return
	}
	a.mu.Lock()
	current := a.pending[g.App] == f && !a.stopped
	if current {
		delete(a.pending, g.App)
		e := &export{pub: g.PublicKey}
		e.timer = a.clock.AfterFunc(time.Duration(g.Lease), func() {
			a.dropExport(g.App, g.PublicKey, []api.Reason{{Code: "lease.expired", Message: "the exported grant's lease ran out without renewal"}})
		})
		a.exports[g.App] = e
	}
	a.mu.Unlock()
	if !current {
		a.release(ctx, g.App, g.PublicKey)
		return
	}
	a.stateChanged()
	a.log.Info("grant exported as a WireGuard config", "app", g.App, "overlay", g.OverlayAddr, "lease", time.Duration(g.Lease))
	f.grant = g
	close(f.done)
}

// exportRenewed moves an export's lease; false if r is not for one.
func (a *Agent) exportRenewed(r api.Renewal) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.exports[r.App]
	if e == nil || e.pub != r.PublicKey || r.Lease <= 0 {
		return false
	}
	e.timer.Reset(time.Duration(r.Lease))
	return true
}

// dropExport forgets app's export if it has key pub, recording reasons
// (when given) as the app's decision; false if there was none.
func (a *Agent) dropExport(app, pub string, reasons []api.Reason) bool {
	a.mu.Lock()
	e := a.exports[app]
	if e == nil || e.pub != pub {
		a.mu.Unlock()
		return false
	}
	delete(a.exports, app)
	if len(reasons) > 0 {
		a.decisions[app] = api.Decision{App: app, Reasons: reasons, EvaluatedAt: a.clock.Now()}
	}
	a.mu.Unlock()
	a.stateChanged()
	e.timer.Stop()
	return true
}

// ReleaseExport gives app's exported grant back: the gateway removes its
// peer, so the exported config stops working. False if app has none.
func (a *Agent) ReleaseExport(ctx context.Context, app string) bool {
	a.mu.Lock()
	e := a.exports[app]
	a.mu.Unlock()
	if e == nil || !a.dropExport(app, e.pub, nil) {
		return false
	}
	a.release(ctx, app, e.pub)
	a.log.Info("exported grant released", "app", app)
	return true
}

// WireGuardConfig renders grant g, made for key, as a wg-quick config:
// the app's virtual IP is the only allowed destination (never a default
// route).
func WireGuardConfig(key tunnel.PrivateKey, g api.Grant) (string, error) {
	if g.Lease <= 0 {
		return "", fmt.Errorf("grant for %s has no lease left: ask again", g.App)
	}
	if g.PublicKey != key.Public().String() {
		return "", fmt.Errorf("grant for %s is for another key", g.App)
	}
	gw, err := tunnel.ParsePublicKey(g.GatewayPublicKey)
	if err != nil {
		return "", fmt.Errorf("grant for %s: %w", g.App, err)
	}
	overlay, err := netip.ParseAddr(g.OverlayAddr)
	if err != nil {
		return "", fmt.Errorf("grant for %s: overlay address: %w", g.App, err)
	}
	vip, err := netip.ParseAddr(g.VirtualIP)
	if err != nil {
		return "", fmt.Errorf("grant for %s: virtual IP: %w", g.App, err)
	}
	if g.GatewayEndpoint == "" || strings.ContainsAny(g.GatewayEndpoint, "\r\n") {
		return "", fmt.Errorf("grant for %s: bad gateway endpoint %q", g.App, g.GatewayEndpoint)
	}
	ports := make([]string, len(g.Ports))
	for i, p := range g.Ports {
		ports[i] = fmt.Sprint(p)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Gatehouse grant for %s (ports %s). SECRET: holds a private key.\n", g.App, strings.Join(ports, ","))
	fmt.Fprintf(&b, "# Works while the agent that exported it keeps its session and the policy passes;\n")
	fmt.Fprintf(&b, "# the gateway drops it on revoke or when its lease (%s, renewed by the controller) ends.\n", time.Duration(g.Lease))
	fmt.Fprintf(&b, "[Interface]\nPrivateKey = %s\nAddress = %s\n\n", key, netip.PrefixFrom(overlay, overlay.BitLen()))
	fmt.Fprintf(&b, "[Peer]\nPublicKey = %s\nEndpoint = %s\nAllowedIPs = %s\nPersistentKeepalive = %d\n",
		gw, g.GatewayEndpoint, netip.PrefixFrom(vip, vip.BitLen()), exportKeepalive)
	return b.String(), nil
}

// serveExport is the local API's POST /v1/wireguard-config?app=NAME.
func (a *Agent) serveExport(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("app")
	if name == "" {
		http.Error(w, "name the app: POST "+localapi.PathWireGuardConfig+"?app=NAME", http.StatusBadRequest)
		return
	}
	conf, err := a.Export(r.Context(), name)
	if err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	reply(w, conf)
}

// serveReleaseExport is the local API's DELETE /v1/wireguard-config?app=NAME.
func (a *Agent) serveReleaseExport(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("app")
	if !a.ReleaseExport(r.Context(), name) {
		http.Error(w, fmt.Sprintf("%s has no exported WireGuard config on this agent", name), http.StatusNotFound)
		return
	}
	reply(w, localapi.WireGuardConfig{App: name})
}
