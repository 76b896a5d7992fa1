package agent

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent/controlclient"
	"github.com/gatehouse-ztna/gatehouse/api"
)

// controlHandler is the agent as the control client sees it: the typed
// messages of the control connection land here. A type of its own so the
// handler methods stay off the Agent's API.
type controlHandler Agent

var _ controlclient.Handler = (*controlHandler)(nil)

func (h *controlHandler) agent() *Agent { return (*Agent)(h) }

// Connected takes the welcome: heartbeat, posture query, and the tunnels
// the controller no longer holds (torn down); then the first posture report.
func (h *controlHandler) Connected(ctx context.Context, first controlclient.Sender, welcome api.WelcomeMsg) error {
	a := h.agent()
	a.mu.Lock()
	if hb := time.Duration(welcome.HeartbeatInterval); hb > 0 {
		a.heartbeat = hb
	}
	a.query = welcome.Query
	var lost []*appTunnel
	for _, t := range a.tunnels {
		if !slices.Contains(welcome.Tunnels, t.pub.String()) {
			lost = append(lost, t)
		}
	}
	lostExports := map[string]string{}
	for app, e := range a.exports {
		if !slices.Contains(welcome.Tunnels, e.pub) {
			lostExports[app] = e.pub
		}
	}
	a.mu.Unlock()
	for _, t := range lost {
		a.teardown(t, []api.Reason{{Code: "controller.lost_grant",
			Message: "the controller no longer holds this tunnel (it may have restarted)", Remediation: "Reconnect; a new tunnel comes up on the next connection"}})
	}
	for app, pub := range lostExports {
		a.dropExport(app, pub, []api.Reason{{Code: "controller.lost_grant",
			Message: "the controller no longer holds this exported grant (it may have restarted)", Remediation: "Export the WireGuard config again"}})
	}
	// The first report goes out before anything else can use the
	// connection, so the controller never decides a grant request on no
	// posture.
	if err := a.sendPosture(ctx, first); err != nil {
		return fmt.Errorf("send posture: %w", err)
	}
	return a.sessionConnected(ctx, first, welcome)
}

// Disconnected fails the grant requests still waiting for an answer;
// live tunnels stay until their leases run out.
func (h *controlHandler) Disconnected(error) {
	a := h.agent()
	a.mu.Lock()
	defer a.mu.Unlock()
	for app, f := range a.pending {
		f.fail(fmt.Errorf("lost the controller while asking for %s: %w", app, controlclient.ErrNotConnected))
		delete(a.pending, app)
	}
}

func (h *controlHandler) Decisions(ctx context.Context, m api.DecisionsMsg) {
	h.agent().applyDecisions(ctx, m)
}
func (h *controlHandler) Grant(ctx context.Context, g api.Grant)     { h.agent().granted(ctx, g) }
func (h *controlHandler) Deny(_ context.Context, d api.Denial)       { h.agent().denied(d) }
func (h *controlHandler) Revoke(_ context.Context, r api.Revocation) { h.agent().revoked(r) }
func (h *controlHandler) Renew(ctx context.Context, r api.Renewal)   { h.agent().renewed(ctx, r) }
func (h *controlHandler) Tokens(_ context.Context, m api.TokensMsg)  { h.agent().rotated(m) }
func (h *controlHandler) AccessResult(_ context.Context, m api.AccessResultMsg) {
	h.agent().requests.deliver(m)
}
func (h *controlHandler) SignedOut(ctx context.Context, m api.SignedOutMsg) {
	h.agent().endSession(ctx, m)
}

// applyDecisions records the controller's view, tears down the tunnels of
// apps no longer listed, and hands the app list (the apps the user is
// entitled to) to the front-end.
func (a *Agent) applyDecisions(ctx context.Context, m api.DecisionsMsg) {
	// The organisation's Gatehouse domain ("" from an older controller:
	// the default). One that is no valid domain is refused and the one
	// before kept.
	domain := api.DNSDomainOrDefault(m.Domain)
	domainErr := api.CheckDNSDomain(domain)
	if domainErr != nil {
		a.log.Warn("the controller's DNS domain is refused; keeping the one before", "err", domainErr)
	}
	a.mu.Lock()
	if domainErr == nil {
		a.domain = domain
	} else {
		domain = a.domain
	}
	a.apps, a.checks = m.Apps, m.Checks
	a.decisions = map[string]api.Decision{}
	for _, d := range m.Decisions {
		a.decisions[d.App] = d
	}
	queryChanged := !slices.Equal(a.query.Processes, m.Query.Processes) || !slices.Equal(a.query.Forbidden, m.Query.Forbidden) ||
		!slices.Equal(a.query.Files, m.Query.Files)
	a.query = m.Query
	a.mu.Unlock()
	if queryChanged {
		a.PostureChanged()
	}
	listed := map[string]bool{}
	for _, app := range m.Apps {
		listed[app.Name] = true
	}
	// An app that left the list takes its tunnel and connections with it.
	var gone []*appTunnel
	a.mu.Lock()
	for app, t := range a.tunnels {
		if !listed[app] {
			gone = append(gone, t)
		}
	}
	a.mu.Unlock()
	for _, t := range gone {
		a.teardown(t, []api.Reason{{Code: "app.removed", Message: "the app is no longer offered to this device"}})
	}
	// The front-ends that name apps by the domain follow it.
	if a.socks != nil {
		a.socks.SetDomain(domain)
	}
	if a.dns != nil {
		a.dns.SetDomain(ctx, domain)
	}
	a.front.SetApps(ctx, m.Apps)
	a.stateChanged() // after the front-end placed the apps: their addresses are in
}
