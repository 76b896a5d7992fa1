package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// TestUncooperativeClientCutOnPostureFlip: a client holding a grant
// reports failing posture itself, then ignores the revoke and keeps its
// stream going. The gateway alone must cut it: reset, nothing after, peer
// gone. (The cooperative agent would close its side first and hide a
// gateway that does neither.)
func TestUncooperativeClientCutOnPostureFlip(t *testing.T) {
	env := New(t, Options{})
	env.Standard(t)
	p := env.RawPeer(t, "alice")
	g := p.Grant("grafana")
	s := g.OpenStream(g.Port())
	live := s.Received()
	Eventually(t, 2*time.Second, func() error {
		if s.Received() < live+50 {
			return fmt.Errorf("stream delivered %d bytes, want it flowing before the revocation", s.Received())
		}
		return nil
	})

	failing := passingPostureReport()
	failing.DiskEncryption = api.KnownBool(false)
	p.SendPosture(failing)
	g.AssertGatewayCut(s, 2*time.Second)

	// The revoke did come, and was ignored: the client closed nothing.
	Eventually(t, time.Second, func() error {
		if !p.Revoked() {
			return fmt.Errorf("RawPeer.Revoked() = false, want the controller's revoke received (and ignored)")
		}
		return nil
	})
}
