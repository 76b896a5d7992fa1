package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// TestExceptionWaivesUntilExpiry: with the firewall off, alice is denied
// grafana; an exception (made with `gatehouse admin exceptions create`)
// waives the firewall check, so her agent and an uncooperative client
// both get grafana and the user sees why; `gatehouse admin explain` shows
// the waiver. At the exception's expiry the controller re-decides on its
// own: the gateway cuts the open flow of the client that ignores revoke
// (≤ 1 s after the expiry), the agent is denied again, and explain shows
// the exception expired and ignored.
func TestExceptionWaivesUntilExpiry(t *testing.T) {
	env := New(t, Options{})
	env.Standard(t)
	a := env.Agent(t, "alice")
	a.Decision("grafana", true, 5*time.Second)
	a.SetPosture(`{"disk_encryption": true, "firewall": false}`)
	a.Decision("grafana", false, 5*time.Second)

	const lasts = 10 * time.Second
	out := env.admin(t, false, "exceptions", "create", "--user", "alice", "--check", "firewall", "--owner", "it-sec",
		"--reason", "vendor VPN client conflicts", "--for", lasts.String())
	if !strings.Contains(out, "firewall waived for user alice until") {
		t.Fatalf("gatehouse admin exceptions create = %q, want the waiver confirmed", out)
	}
	list, err := env.Admin.Exceptions(t.Context())
	Must(t, err)
	if len(list) != 1 {
		t.Fatalf("Exceptions() = %+v, want the one created", list)
	}
	expiry := list[0].ExpiresAt

	// The agent: allowed, and told why.
	reasons := a.Decision("grafana", true, 5*time.Second)
	if !strings.Contains(api.ReasonsText(reasons), "firewall check waived until") || !strings.Contains(api.ReasonsText(reasons), "owner: it-sec") {
		t.Errorf("agent's decision for grafana = %+v, want the waiver named", reasons)
	}
	if body, err := a.Get("grafana", "/"); err != nil || !strings.Contains(body, "grafana") {
		t.Errorf("GET grafana through the agent under the exception = %q, %v; want the app", body, err)
	}
	a.Eventually(5*time.Second, func() error {
		for _, c := range a.Posture().Checks {
			if c.Check == "firewall" && c.Status == api.CheckWaived && c.WaivedUntil.Equal(expiry) {
				return nil
			}
		}
		return fmt.Errorf("posture checks %+v: want firewall waived until %v", a.Posture().Checks, expiry)
	})

	// The proof: a client that ignores revoke, its firewall off too.
	p := env.RawPeer(t, "alice")
	off := passingPostureReport()
	off.Firewall = api.KnownBool(false)
	p.SendPosture(off)
	g := p.Grant("grafana")
	s := g.OpenStream(g.Port())
	live := s.Received()
	Eventually(t, 2*time.Second, func() error {
		if s.Received() < live+50 {
			return fmt.Errorf("stream delivered %d bytes, want it flowing under the exception", s.Received())
		}
		return nil
	})
	explain := env.admin(t, false, "explain", "--device", p.DeviceID(), "--app", "grafana")
	for _, want := range []string{"ALLOWED: app grafana for user alice", "WAIVED   secure/firewall: firewall check waived until",
		"eng-grafana: PASSES", "applied to firewall"} {
		if !strings.Contains(explain, want) {
			t.Errorf("gatehouse admin explain (waived) lacks %q:\n%s", want, explain)
		}
	}
	if time.Until(expiry) < time.Second {
		t.Fatalf("the exception expired at %v before the flow was checked (setup too slow); raise lasts", expiry)
	}

	// At expiry, nothing else happening: the gateway cuts the flow.
	g.AssertGatewayCut(s, time.Until(expiry)+time.Second)
	if late := time.Since(expiry); late > time.Second {
		t.Errorf("flow cut %v after the exception expired, want ≤ 1s", late)
	}
	reasons = a.Decision("grafana", false, 2*time.Second)
	if !strings.Contains(api.ReasonsText(reasons), "the firewall is off") || !strings.Contains(api.ReasonsText(reasons), "expired") {
		t.Errorf("agent's decision after expiry = %+v, want the firewall failing and the exception's expiry named", reasons)
	}
	explain = env.admin(t, false, "explain", "--device", p.DeviceID(), "--app", "grafana")
	for _, want := range []string{"DENIED: app grafana", "FAIL     secure/firewall", "fix: Turn on an inbound-filtering firewall", "EXPIRED, ignored"} {
		if !strings.Contains(explain, want) {
			t.Errorf("gatehouse admin explain (expired) lacks %q:\n%s", want, explain)
		}
	}
	if out := env.admin(t, true, "explain", "--device", "nope", "--app", "grafana"); !strings.Contains(out, "there is no device nope") {
		t.Errorf("gatehouse admin explain of an unknown device = %q, want it named", out)
	}
	if out := env.admin(t, false, "exceptions", "list"); !strings.Contains(out, "expired") || !strings.Contains(out, "it-sec") {
		t.Errorf("gatehouse admin exceptions list = %q, want the exception shown expired", out)
	}
}

// TestExceptionDeletedCutsAtOnce: deleting the exception that carries a
// grant re-decides at once: the gateway cuts the open flow of a client
// that ignores revoke within 1 s. `gatehouse admin explain --json` gives
// the same evaluation as data.
func TestExceptionDeletedCutsAtOnce(t *testing.T) {
	env := New(t, Options{})
	env.Standard(t)
	p := env.RawPeer(t, "alice")
	off := passingPostureReport()
	off.DiskEncryption = api.KnownBool(false)
	p.SendPosture(off)
	e, err := env.Admin.CreateException(t.Context(), api.Exception{Device: p.DeviceID(), Checks: []string{"disk_encryption"},
		Owner: "it-sec", Reason: "disk being replaced", ExpiresAt: time.Now().Add(time.Hour)})
	Must(t, err)
	g := p.Grant("grafana")
	s := g.OpenStream(g.Port())
	live := s.Received()
	Eventually(t, 2*time.Second, func() error {
		if s.Received() < live+50 {
			return fmt.Errorf("stream delivered %d bytes, want it flowing under the exception", s.Received())
		}
		return nil
	})
	var ex api.Explanation
	Must(t, json.Unmarshal([]byte(env.admin(t, false, "explain", "--device", p.DeviceID(), "--app", "grafana", "--json")), &ex))
	if !ex.Decision.Allowed || len(ex.Exceptions) != 1 || ex.Exceptions[0].ID != e.ID || !slices.Equal(ex.Exceptions[0].Applied, []string{"disk_encryption"}) ||
		!ex.Device.Online || !ex.Device.Posture {
		t.Errorf("explain --json = %+v, want allowed, online with posture, %s applied to disk_encryption", ex, e.ID)
	}

	env.admin(t, false, "exceptions", "delete", e.ID)
	g.AssertGatewayCut(s, time.Second)
	denial(t, p.request("grafana"), api.CodePostureDiskEncryption, "disk encryption is off")
}
