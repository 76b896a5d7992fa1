package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
)

// TestConditionOnSourceIPAndDeviceTags: the controller fills
// request.source_ip with its agent link's remote address and device.tags
// with the tags an admin gave the device, so a condition on them decides
// end to end: no tag denies, tagging grants, a source network the link
// is not in denies, and removing the tag revokes the live grant at the
// gateway at once.
func TestConditionOnSourceIPAndDeviceTags(t *testing.T) {
	env := New(t, Options{})
	env.Standard(t)
	ctx := context.Background()
	pol := api.Policy{Name: "eng-wiki", Groups: []string{"eng"}, Apps: []string{"wiki"},
		Condition: "request.source_ip == '127.0.0.1' && 'corp' in device.tags"}
	Must(t, adminclient.Create(ctx, env.Admin, api.PathPolicies, &pol))
	peer := env.RawPeer(t, "alice")

	denial(t, peer.request("wiki"), api.CodePolicyCondition, `policy "eng-wiki"`, "is false")

	Must(t, env.Admin.LabelDevice(ctx, peer.DeviceID(), api.DeviceLabelRequest{Name: "laptop-1", Tags: []string{"x"}}))
	env.admin(t, false, "devices", "tag", peer.DeviceID(), "corp", "lab")
	g := peer.Grant("wiki") // from 127.0.0.1 with tag corp: granted
	devs, err := adminclient.List[api.Device](ctx, env.Admin, api.PathDevices)
	Must(t, err)
	for _, d := range devs {
		if d.ID == peer.DeviceID() && (d.Name != "laptop-1" || strings.Join(d.Tags, ",") != "x,corp,lab") {
			t.Errorf("after devices tag, device = name %q tags %q, want laptop-1 with x,corp,lab", d.Name, d.Tags)
		}
	}
	if held := env.rawHome(t).held(g); len(held) == 0 {
		t.Fatalf("gateway holds no peer for the granted tunnel")
	}

	// Untagging re-decides the device: the live grant is revoked at the
	// gateway, not at the next renewal.
	env.admin(t, false, "devices", "untag", peer.DeviceID(), "corp")
	deadline := time.Now().Add(time.Second)
	for len(env.rawHome(t).held(g)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("gateway still holds the peer 1 s after the device lost its tag: %v", env.rawHome(t).held(g))
		}
		time.Sleep(10 * time.Millisecond)
	}

	Must(t, env.Admin.LabelDevice(ctx, peer.DeviceID(), api.DeviceLabelRequest{Tags: []string{"corp"}}))
	pol.Condition = "request.source_ip.startsWith('10.') && 'corp' in device.tags"
	Must(t, adminclient.Update(ctx, env.Admin, api.PathPolicies, pol.Name, &pol))
	denial(t, peer.request("wiki"), api.CodePolicyCondition, "is false")
}

// TestTimeWindowEdgesThroughTheController: a policy whose condition reads
// request.time is decided again at its edge by the controller's grant
// manager: a live grant is cut at the embedded gateway within a second
// of the window closing, though its lease has a minute to run and the
// next renewal is 20 s away; a request before a window opens is denied
// and one after it is granted (the agent asks again); the agent's
// decision list turns to allowed at the opening edge without asking.
func TestTimeWindowEdgesThroughTheController(t *testing.T) {
	env := New(t, Options{LeaseTTL: time.Minute})
	env.Standard(t)
	ctx := context.Background()
	closes := time.Now().Truncate(time.Second).Add(3 * time.Second)
	pol := api.Policy{Name: "eng-wiki", Groups: []string{"eng"}, Apps: []string{"wiki"},
		Condition: "request.time < timestamp('" + closes.UTC().Format(time.RFC3339) + "')"}
	Must(t, adminclient.Create(ctx, env.Admin, api.PathPolicies, &pol))
	peer := env.RawPeer(t, "alice")
	g := peer.Grant("wiki")
	home := env.rawHome(t)
	for len(home.held(g)) > 0 {
		if time.Now().After(closes.Add(time.Second)) {
			t.Fatalf("the gateway still holds the peer 1 s after the window closed at %v", closes)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if cut := time.Now(); cut.Before(closes) {
		t.Fatalf("the peer was cut at %v, before the window closed at %v", cut, closes)
	}
	if !peer.Revoked() {
		peer.await(time.Second, "revoke", func(m api.Envelope) bool { return m.Type == api.TypeRevoke })
	}

	opens := time.Now().Truncate(time.Second).Add(2 * time.Second)
	pol.Condition = "request.time >= timestamp('" + opens.UTC().Format(time.RFC3339) + "')"
	Must(t, adminclient.Update(ctx, env.Admin, api.PathPolicies, pol.Name, &pol))
	denial(t, peer.request("wiki"), api.CodePolicyCondition, "is false")
	// At the edge the agent is told, unasked, that wiki is allowed now.
	seen := len(peer.Messages(api.TypeDecisions))
	for allowed := false; !allowed; {
		if time.Now().After(opens.Add(time.Second)) {
			t.Fatalf("no decision set allowing wiki within 1 s of its window opening at %v", opens)
		}
		sets := peer.Messages(api.TypeDecisions)
		for _, m := range sets[seen:] {
			var d api.DecisionsMsg
			Must(t, m.Decode(&d))
			for _, dec := range d.Decisions {
				if dec.App == "wiki" {
					allowed = dec.Allowed
				}
			}
		}
		seen = len(sets)
		time.Sleep(5 * time.Millisecond)
	}
	if now := time.Now(); now.Before(opens) {
		t.Fatalf("wiki shown allowed at %v, before its window opened at %v", now, opens)
	}
	peer.Grant("wiki") // fails the test if denied
}
