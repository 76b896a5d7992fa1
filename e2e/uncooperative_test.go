package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// TestUncooperativeClientCutOnEveryPath: for every way access ends, a
// client holding a real grant ignores the revoke (or never hears one) and
// keeps its stream going. The gateway alone must cut it: a reset, nothing
// after it, the peer gone. The cooperative agent closes its own side first
// and would hide a gateway that does neither; this client does not.
func TestUncooperativeClientCutOnEveryPath(t *testing.T) {
	const lease = 1500 * time.Millisecond
	tests := []struct {
		name string
		opts Options
		// cut ends access; the gateway must have cut the flow within the
		// returned time.
		cut func(t *testing.T, env *Env, p *RawPeer) time.Duration
		// revoked: the controller tells the client (which ignores it);
		// false where nobody can (the controller is gone, or the link).
		revoked bool
	}{
		{name: "posture flip", revoked: true,
			cut: func(t *testing.T, _ *Env, p *RawPeer) time.Duration {
				failing := passingPostureReport()
				failing.DiskEncryption = api.KnownBool(false)
				p.SendPosture(failing)
				return time.Second
			}},
		{name: "admin change", revoked: true,
			cut: func(t *testing.T, env *Env, _ *RawPeer) time.Duration {
				Must(t, env.Admin.RemoveMember(context.Background(), "eng", "alice"))
				return time.Second
			}},
		{name: "device deleted", revoked: true,
			cut: func(t *testing.T, env *Env, p *RawPeer) time.Duration {
				Must(t, env.Admin.Delete(context.Background(), api.PathDevices, p.DeviceID()))
				return time.Second
			}},
		{name: "user deleted", revoked: true,
			cut: func(t *testing.T, env *Env, _ *RawPeer) time.Duration {
				Must(t, env.Admin.Delete(context.Background(), api.PathUsers, "alice"))
				return time.Second
			}},
		{name: "lease expiry with the gateway link cut", opts: Options{LeaseTTL: lease},
			cut: func(t *testing.T, env *Env, _ *RawPeer) time.Duration {
				env.Link.Cut()
				return lease + time.Second
			}},
		{name: "lost controller", opts: Options{LeaseTTL: lease},
			cut: func(t *testing.T, env *Env, _ *RawPeer) time.Duration {
				Must(t, env.StopController())
				return lease + time.Second
			}},
		// The raw client reports once and then never again, as a tampered
		// agent or a hung collector would: stale after 3 heartbeats + 2 s,
		// noticed at the next renewal round (every lease/3).
		{name: "stale posture", revoked: true, opts: Options{LeaseTTL: lease, HeartbeatInterval: 300 * time.Millisecond},
			cut: func(*testing.T, *Env, *RawPeer) time.Duration {
				return 3*300*time.Millisecond + 2*time.Second + lease/3 + time.Second
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := New(t, tt.opts)
			env.Standard(t)
			p := env.RawPeer(t, "alice")
			g := p.Grant("grafana")
			s := g.OpenStream(g.Port())
			live := s.Received()
			Eventually(t, 2*time.Second, func() error {
				if s.Received() < live+50 {
					return fmt.Errorf("stream delivered %d bytes, want it flowing before access ends", s.Received())
				}
				return nil
			})

			within := tt.cut(t, env, p)
			g.AssertGatewayCut(s, within)
			if tt.revoked {
				Eventually(t, time.Second, func() error {
					if !p.Revoked() {
						return fmt.Errorf("RawPeer.Revoked() = false, want the controller's revoke received (and ignored)")
					}
					return nil
				})
			}
		})
	}
}
