package grants

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

var ctx = context.Background()

func hasCode(reasons []api.Reason, code string) bool {
	return slices.ContainsFunc(reasons, func(r api.Reason) bool { return r.Code == code })
}

// TestIssueAndDeny: an allowed request installs the peer before the agent
// hears grant; a denied, offline-gateway or exhausted one installs nothing
// and says why.
func TestIssueAndDeny(t *testing.T) {
	tests := []struct {
		name     string
		app      string
		setup    func(r *rig)
		wantKind Kind
		wantCode string // of the denial
		wantMsg  string
	}{
		{name: "allowed", app: "grafana", wantKind: Issued},
		{name: "policy denies", app: "grafana", setup: func(r *rig) {
			r.policy.set(func(_ map[string]api.App, allowed map[string]bool) { allowed["grafana"] = false })
		}, wantKind: Denied, wantCode: api.CodePostureDiskEncryption},
		{name: "gateway offline", app: "wiki", wantKind: Denied, wantCode: api.CodeGatewayOffline, wantMsg: "gateway paris is offline"},
		{name: "gateway refuses the peer", app: "grafana", setup: func(r *rig) { r.gw.setFail(true) },
			wantKind: Denied, wantCode: api.CodeGatewayUnavailable},
		{name: "no overlay address left", app: "grafana", setup: func(r *rig) {
			for range 3 {
				r.overlays.Take()
			}
		}, wantKind: Denied, wantCode: api.CodeControllerExhausted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			if tt.setup != nil {
				tt.setup(r)
			}
			l := r.request(t, tt.app, "k1")
			evs := r.takeEvents()
			if got := kinds(evs); !slices.Equal(got, []Kind{tt.wantKind}) {
				t.Fatalf("Request(%q) events = %v, want [%v]", tt.app, got, tt.wantKind)
			}
			_, installed := r.gw.peer("k1")
			if tt.wantKind == Issued {
				g, ok := l.last().(api.Grant)
				if !ok || g.GatewayEndpoint != r.gw.Endpoint() || time.Duration(g.Lease) != testLease || g.OverlayAddr != "100.64.0.1" {
					t.Errorf("Request(%q) replied %+v, want a grant on %s with lease %s at 100.64.0.1", tt.app, l.last(), r.gw.Endpoint(), testLease)
				}
				if !installed {
					t.Errorf("Request(%q) issued a grant without a peer on the gateway", tt.app)
				}
				if got := r.j.all(); !slices.Equal(got[len(got)-3:], []string{"embedded: add k1", "reply: grant", "event: issued k1"}) {
					t.Errorf("journal = %q, want the peer added before the grant is sent", got)
				}
				return
			}
			if installed {
				t.Errorf("Request(%q) denied but left a peer on the gateway", tt.app)
			}
			d, ok := l.last().(api.Denial)
			if !ok || !hasCode(d.Reasons, tt.wantCode) || !hasCode(evs[0].Reasons, tt.wantCode) {
				t.Fatalf("Request(%q) replied %+v, event %+v, want a denial with code %s", tt.app, l.last(), evs[0], tt.wantCode)
			}
			if tt.wantMsg != "" && d.Reasons[0].Message != tt.wantMsg {
				t.Errorf("denial message = %q, want %q", d.Reasons[0].Message, tt.wantMsg)
			}
			if got := r.m.List(); len(got) != 0 {
				t.Errorf("List() after a denial = %+v, want none", got)
			}
		})
	}
}

// TestRenewKeepsAGrantPastItsFirstLease: renewals on the fake clock move
// the expiry on the gateway and tell the agent; the grant outlives many
// leases.
func TestRenewKeepsAGrantPastItsFirstLease(t *testing.T) {
	r := newRig(t)
	r.request(t, "grafana", "k1")
	r.takeEvents()
	for range 10 {
		r.clock.Advance(testLease / 3)
		r.m.ReevaluateAll(ctx)
		r.m.RenewAll(ctx)
	}
	evs := r.takeEvents()
	if len(evs) != 10 || slices.ContainsFunc(evs, func(e Event) bool { return e.Kind != Renewed }) {
		t.Fatalf("events over 10 renewals = %v, want 10 renewed", kinds(evs))
	}
	if got := r.m.List(); len(got) != 1 {
		t.Fatalf("List() after 10/3 leases of renewals = %+v, want the grant", got)
	}
	if _, ok := r.gw.peer("k1"); !ok {
		t.Errorf("peer gone from the gateway, want it renewed")
	}
	if got := r.j.all(); !slices.Equal(got[len(got)-2:], []string{"embedded: renew k1 1m0s", "event: renewed k1"}) {
		t.Errorf("journal = %q, want each renewal on the gateway, then its event", got)
	}
}

// TestExpire: a grant nobody renews (device offline, gateway offline or
// refusing) expires at its lease with lease.expired; before that, it lives.
func TestExpire(t *testing.T) {
	tests := []struct {
		name  string
		setup func(r *rig)
	}{
		{name: "device offline", setup: func(r *rig) { r.presence.offline["d1"] = true }},
		{name: "gateway offline", setup: func(r *rig) { r.m.UnregisterGateway(EmbeddedGateway, r.gw) }},
		{name: "gateway refuses renewals", setup: func(r *rig) { r.gw.setFail(true) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			r.request(t, "grafana", "k1")
			r.takeEvents()
			tt.setup(r)
			r.clock.Advance(testLease - time.Second)
			r.m.RenewAll(ctx)
			if evs := r.takeEvents(); len(evs) != 0 || len(r.m.List()) != 1 {
				t.Fatalf("before the lease ends: events %v, grants %d, want none and the grant alive", kinds(evs), len(r.m.List()))
			}
			r.clock.Advance(time.Second)
			r.m.RenewAll(ctx)
			evs := r.takeEvents()
			if !slices.Equal(kinds(evs), []Kind{Expired}) || !hasCode(evs[0].Reasons, api.CodeLeaseExpired) {
				t.Fatalf("at the lease's end: events %+v, want one expired with %s", evs, api.CodeLeaseExpired)
			}
			if got := r.m.List(); len(got) != 0 {
				t.Errorf("List() after expiry = %+v, want none", got)
			}
		})
	}
}

// TestRevokeTellsAgentThenGateway: a grant that no longer passes is
// revoked with the policy's reasons; subscribers (the agent pusher) hear
// first, then the gateway removes the peer.
func TestRevokeTellsAgentThenGateway(t *testing.T) {
	r := newRig(t)
	r.request(t, "grafana", "k1")
	r.takeEvents()
	r.policy.set(func(_ map[string]api.App, allowed map[string]bool) { allowed["grafana"] = false })
	r.m.Reevaluate(ctx, "other-device")
	if evs := r.takeEvents(); len(evs) != 0 {
		t.Fatalf("Reevaluate(other device) events = %v, want none", kinds(evs))
	}
	r.m.Reevaluate(ctx, "d1")
	evs := r.takeEvents()
	if !slices.Equal(kinds(evs), []Kind{Revoked}) || !hasCode(evs[0].Reasons, api.CodePostureDiskEncryption) {
		t.Fatalf("Reevaluate(d1) events = %+v, want revoked with the policy's reason", evs)
	}
	got := r.j.all()
	if !slices.Equal(got[len(got)-2:], []string{"event: revoked k1", "embedded: remove k1"}) {
		t.Errorf("journal = %q, want the revoked event (the agent's revoke), then the peer removed", got)
	}
	// The address is free again.
	if a, _ := r.overlays.Take(); a != netip.MustParseAddr("100.64.0.2") {
		t.Errorf("overlays.Take() after a revoke = %v, want the next fresh one (100.64.0.1 is reused last)", a)
	}
}

// TestRevokeDevice: an admin deleting a device revokes its grants with the
// given reasons.
func TestRevokeDevice(t *testing.T) {
	r := newRig(t)
	r.request(t, "grafana", "k1")
	r.takeEvents()
	r.m.RevokeDevice(ctx, "d1", []api.Reason{{Code: api.CodeDeviceDeleted}})
	evs := r.takeEvents()
	if !slices.Equal(kinds(evs), []Kind{Revoked}) || !hasCode(evs[0].Reasons, api.CodeDeviceDeleted) {
		t.Fatalf("RevokeDevice events = %+v, want revoked with %s", evs, api.CodeDeviceDeleted)
	}
}

// TestMove: an app whose upstream changes has its peer updated in place;
// a gateway that cannot take the change revokes the grant; an app moved to
// another gateway revokes it.
func TestMove(t *testing.T) {
	tests := []struct {
		name     string
		change   func(r *rig)
		want     Kind
		wantCode string
	}{
		{name: "new upstream", change: func(r *rig) {}, want: Moved},
		{name: "gateway refuses the change", change: func(r *rig) { r.gw.setFail(true) }, want: Revoked, wantCode: api.CodeGatewayUnavailable},
		{name: "app moved to another gateway", change: func(r *rig) {
			r.policy.set(func(apps map[string]api.App, _ map[string]bool) {
				a := apps["grafana"]
				a.Gateway = "paris"
				apps["grafana"] = a
			})
		}, want: Revoked, wantCode: api.CodeGatewayChanged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			r.request(t, "grafana", "k1")
			r.takeEvents()
			r.policy.set(func(apps map[string]api.App, _ map[string]bool) {
				a := apps["grafana"]
				a.Upstreams = []string{"10.0.0.7:3000"}
				apps["grafana"] = a
			})
			tt.change(r)
			r.m.ReevaluateAll(ctx)
			evs := r.takeEvents()
			if !slices.Equal(kinds(evs), []Kind{tt.want}) || tt.wantCode != "" && !hasCode(evs[0].Reasons, tt.wantCode) {
				t.Fatalf("ReevaluateAll events = %+v, want %v %s", evs, tt.want, tt.wantCode)
			}
			if tt.want == Moved {
				pc, _ := r.gw.peer("k1")
				if len(pc.Destinations) != 1 || pc.Destinations[0].Upstream != "10.0.0.7:3000" {
					t.Errorf("peer destinations = %+v, want the new upstream", pc.Destinations)
				}
			}
		})
	}
}

// TestRelease: the agent giving a grant back removes the peer without a
// revoke; a release naming another key changes nothing.
func TestRelease(t *testing.T) {
	r := newRig(t)
	r.request(t, "grafana", "k1")
	r.takeEvents()
	r.m.Release(ctx, "d1", "grafana", "k-other")
	if evs := r.takeEvents(); len(evs) != 0 || len(r.m.List()) != 1 {
		t.Fatalf("Release(another key): events %v, grants %d, want nothing changed", kinds(evs), len(r.m.List()))
	}
	r.m.Release(ctx, "d1", "grafana", "k1")
	if evs := r.takeEvents(); !slices.Equal(kinds(evs), []Kind{Released}) {
		t.Fatalf("Release(k1) events = %v, want released", kinds(evs))
	}
	if _, ok := r.gw.peer("k1"); ok {
		t.Errorf("peer k1 still on the gateway after release")
	}
}

// TestKeyReuseIsRefused: one key is one tunnel.
func TestKeyReuseIsRefused(t *testing.T) {
	r := newRig(t)
	r.request(t, "grafana", "k1")
	r.takeEvents()
	l := &fakeLink{j: r.j}
	err := r.m.Request(ctx, Request{Device: "d1", User: "alice", App: "other", PublicKey: "k1"}, l)
	if err == nil || !strings.Contains(err.Error(), "already belongs to another tunnel") {
		t.Errorf("Request(other app, same key) = %v, want an error saying the key is taken", err)
	}
	if d, ok := l.last().(api.Denial); !ok || !hasCode(d.Reasons, api.CodeBadRequest) {
		t.Errorf("Request(other app, same key) replied %+v, want a bad_request denial", l.last())
	}
}

// TestStaleLinkKeepsNothing: a grant finished for a link that was
// replaced meanwhile is removed from the gateway, not kept.
func TestStaleLinkKeepsNothing(t *testing.T) {
	r := newRig(t)
	l := &fakeLink{j: r.j, stale: true}
	if err := r.m.Request(ctx, Request{Device: "d1", User: "alice", App: "grafana", PublicKey: "k1"}, l); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.gw.peer("k1"); ok || len(r.m.List()) != 0 {
		t.Errorf("after a request on a stale link: peer on gateway %v, grants %d, want neither", ok, len(r.m.List()))
	}
}

// TestUnreachableGatewayHoldsAddressUntilLeaseEnds: when the gateway
// cannot be told to remove a peer, its overlay address stays taken until
// the gateway's own timer dropped the peer, so no new tunnel shares it.
func TestUnreachableGatewayHoldsAddressUntilLeaseEnds(t *testing.T) {
	r := newRig(t)
	r.request(t, "grafana", "k1")
	r.gw.setFail(true)
	r.m.Release(ctx, "d1", "grafana", "k1")
	r.gw.setFail(false)
	if got := r.free(); slices.Contains(got, netip.MustParseAddr("100.64.0.1")) {
		t.Fatalf("free addresses right after a failed remove = %v, want 100.64.0.1 still held", got)
	}
	r.clock.Advance(testLease + time.Second)
	if got := r.free(); !slices.Contains(got, netip.MustParseAddr("100.64.0.1")) {
		t.Errorf("free addresses after the lease = %v, want 100.64.0.1 back", got)
	}
}

// TestRegisterGatewayRemovesStrayPeers: a gateway coming online keeps the
// peers of live grants and loses every other one.
func TestRegisterGatewayRemovesStrayPeers(t *testing.T) {
	r := newRig(t)
	r.request(t, "grafana", "k1")
	r.m.UnregisterGateway(EmbeddedGateway, r.gw)
	r.gw.AddPeer(ctx, api.PeerConfig{PublicKey: "stray", App: "grafana"})
	if err := r.m.RegisterGateway(ctx, EmbeddedGateway, r.gw); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.gw.peer("stray"); ok {
		t.Errorf("stray peer kept after RegisterGateway, want it removed")
	}
	if _, ok := r.gw.peer("k1"); !ok {
		t.Errorf("live grant's peer removed by RegisterGateway, want it kept")
	}
	// The same Enforcer again (a standalone gateway's new link while its
	// old one closes) succeeds and cleans again; another one is refused.
	r.gw.AddPeer(ctx, api.PeerConfig{PublicKey: "stray2", App: "grafana"})
	if err := r.m.RegisterGateway(ctx, EmbeddedGateway, r.gw); err != nil {
		t.Errorf("RegisterGateway(%q) again with the same gateway = %v, want nil", EmbeddedGateway, err)
	}
	if _, ok := r.gw.peer("stray2"); ok {
		t.Errorf("stray peer kept after registering the same gateway again, want it removed")
	}
	if err := r.m.RegisterGateway(ctx, EmbeddedGateway, newFakeEnforcer("other", r.j)); err == nil {
		t.Errorf("RegisterGateway(%q) with another gateway = nil, want an error", EmbeddedGateway)
	}
	// Unregistering with an Enforcer that is not the registered one is a no-op.
	r.m.UnregisterGateway(EmbeddedGateway, newFakeEnforcer("other", r.j))
	if _, ok := r.m.gateways.Get(EmbeddedGateway); !ok {
		t.Errorf("UnregisterGateway(%q, another enforcer) took the registered one offline", EmbeddedGateway)
	}
}

// TestChangeAfterRequestRedecisionRevokes: an admin change that lands
// right after a grant request's last re-decision (made under the old
// policy) and re-decides every live grant must find the new grant and
// revoke it, not leave it to live until the next renewal round. The
// agent hears the grant first, then its revocation.
func TestChangeAfterRequestRedecisionRevokes(t *testing.T) {
	r := newRig(t)
	reevaluated := make(chan struct{})
	redecided := make(chan struct{}, 1) // the change's re-decision of the new grant
	r.policy.afterDecide = func(n int) {
		switch n {
		case 2: // the request's re-decision after the gateway took the peer
			r.policy.set(func(_ map[string]api.App, allowed map[string]bool) { allowed["grafana"] = false })
			go func() {
				defer close(reevaluated)
				r.m.ReevaluateAll(ctx)
			}()
			// The change's re-decision either finishes without the grant
			// or reaches it (and then waits for the request to finish).
			select {
			case <-reevaluated:
			case <-redecided:
			}
		case 3:
			redecided <- struct{}{}
		}
	}
	l := r.request(t, "grafana", "k1")
	select {
	case <-reevaluated:
	case <-time.After(5 * time.Second):
		t.Fatal("ReevaluateAll did not return within 5 s")
	}
	evs := r.takeEvents()
	if !slices.Equal(kinds(evs), []Kind{Issued, Revoked}) || !hasCode(evs[1].Reasons, api.CodePostureDiskEncryption) {
		t.Errorf("events = %+v, want issued, then revoked with the new policy's reason", evs)
	}
	if got := r.m.List(); len(got) != 0 {
		t.Errorf("List() after the change = %+v, want no grant", got)
	}
	if _, ok := r.gw.peer("k1"); ok {
		t.Errorf("peer k1 still on the gateway after the change")
	}
	if _, ok := l.last().(api.Grant); !ok {
		t.Errorf("reply = %+v, want the grant (the revocation follows it)", l.last())
	}
}

// TestRenewOfLostPeerRevokes: a renewal the gateway answers with
// ErrPeerLost (it restarted, or expired the peer) revokes the grant at
// once with gateway.lost_grant, so the agent drops its dead tunnel and
// asks again; the overlay address is free at once.
func TestRenewOfLostPeerRevokes(t *testing.T) {
	r := newRig(t)
	r.request(t, "grafana", "k1")
	r.takeEvents()
	r.gw.lose("k1")
	r.clock.Advance(testLease / 3)
	r.m.RenewAll(ctx)
	evs := r.takeEvents()
	if !slices.Equal(kinds(evs), []Kind{Revoked}) || !hasCode(evs[0].Reasons, api.CodeGatewayLostGrant) {
		t.Fatalf("RenewAll of a lost peer: events %+v, want revoked with %s", evs, api.CodeGatewayLostGrant)
	}
	if rs := evs[0].Reasons; rs[0].Message != "gateway embedded no longer holds this tunnel (it restarted or dropped it)" || rs[0].Remediation == "" {
		t.Errorf("reason = %+v, want it to name the gateway and say what to do", rs[0])
	}
	if got := r.m.List(); len(got) != 0 {
		t.Errorf("List() after a lost peer = %+v, want none", got)
	}
	if got := r.free(); !slices.Contains(got, netip.MustParseAddr("100.64.0.1")) {
		t.Errorf("free addresses after a lost peer = %v, want 100.64.0.1 back at once", got)
	}
}

// TestSubscribersRunSynchronouslyOutsideTheLocks: a subscriber is called
// before the Manager goes on (the revoked event before the peer is
// removed), in the order subscribers came, and may read the Manager and
// cancel itself from inside the call.
func TestSubscribersRunSynchronouslyOutsideTheLocks(t *testing.T) {
	r := newRig(t)
	var order []string
	var cancel func()
	cancel = r.m.Subscribe(func(e Event) {
		_, onGateway := r.gw.peer(e.PublicKey)
		order = append(order, fmt.Sprintf("first %s: %d live, peer on gateway %v", e.Kind, len(r.m.List()), onGateway))
		if e.Kind == Revoked {
			cancel()
		}
	})
	r.m.Subscribe(func(e Event) { order = append(order, "second "+e.Kind.String()) })
	done := make(chan struct{})
	go func() {
		defer close(done)
		ask := func(pub string) {
			if err := r.m.Request(ctx, Request{Device: "d1", User: "alice", App: "grafana", PublicKey: pub}, &fakeLink{j: r.j}); err != nil {
				t.Errorf("Request(grafana, %s) = %v, want nil", pub, err)
			}
		}
		ask("k1")
		r.m.RevokeDevice(ctx, "d1", []api.Reason{{Code: api.CodeDeviceDeleted}})
		ask("k2")
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a subscriber calling List or its cancel deadlocked the Manager")
	}
	want := []string{
		"first issued: 1 live, peer on gateway true", "second issued",
		"first revoked: 0 live, peer on gateway true", "second revoked",
		"second issued", // the first cancelled itself
	}
	if !slices.Equal(order, want) {
		t.Errorf("calls = %q, want %q", order, want)
	}
}

// TestRequestsForOneAppRunOneAtATime: a request for an app the device is
// still asking for on a link being replaced waits for that one, so the
// old link's request (kept from nothing: its link is stale) cannot take
// the new one's grant with it; a request whose ctx ends while waiting
// gives up.
func TestRequestsForOneAppRunOneAtATime(t *testing.T) {
	r := newRig(t)
	inGateway, letGo := make(chan struct{}), make(chan struct{})
	r.gw.beforeAdd = func(pub string) {
		if pub == "k-old" {
			close(inGateway)
			<-letGo
		}
	}
	oldDone := make(chan error)
	go func() {
		oldDone <- r.m.Request(ctx, Request{Device: "d1", User: "alice", App: "grafana", PublicKey: "k-old"}, &fakeLink{j: r.j, stale: true})
	}()
	<-inGateway

	gaveUp, cancel := context.WithCancel(ctx)
	cancel()
	if err := r.m.Request(gaveUp, Request{Device: "d1", User: "alice", App: "grafana", PublicKey: "k-cancelled"}, &fakeLink{j: r.j}); !errors.Is(err, context.Canceled) {
		t.Errorf("Request with its ctx ended while another is under way = %v, want %v", err, context.Canceled)
	}

	newDone := make(chan error)
	newLink := &fakeLink{j: r.j}
	go func() {
		newDone <- r.m.Request(ctx, Request{Device: "d1", User: "alice", App: "grafana", PublicKey: "k-new"}, newLink)
	}()
	select {
	case err := <-newDone:
		t.Fatalf("Request(k-new) = %v while the old link's request is in the gateway, want it to wait", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(letGo)
	for _, done := range []chan error{oldDone, newDone} {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Request = %v, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Request did not return within 5 s")
		}
	}
	if got := r.m.List(); len(got) != 1 || got[0].PublicKey != "k-new" {
		t.Errorf("List() = %+v, want the new link's grant only", got)
	}
	if _, ok := r.gw.peer("k-new"); !ok {
		t.Errorf("peer k-new not on the gateway, want the new link's grant installed")
	}
	if _, ok := r.gw.peer("k-old"); ok {
		t.Errorf("peer k-old on the gateway, want the stale link's request dropped")
	}
	if _, ok := newLink.last().(api.Grant); !ok {
		t.Errorf("new link got %+v, want its grant", newLink.last())
	}
}
