package e2e

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
	"github.com/gatehouse-ztna/gatehouse/controller"
	"github.com/gatehouse-ztna/gatehouse/controller/httpapi"
)

// benchSignInTrials is the least number of trials of
// BenchmarkSignInFirstTunnel: enough for a p99.
const benchSignInTrials = minTrialsForP99

// BenchmarkSignInFirstTunnel: how long from `gatehouse login` (the
// agent's Login, which the CLI calls through the local API) on a running,
// token-enrolled agent until the first byte from grafana through its
// tunnel, under a policy that asks for sign-in; the person is an HTTP
// client that approves on the pages at once (password, no TOTP), so the
// human is not measured, the agent's polling interval is (1 s here, the
// least the controller allows; 5 s by default). Each trial is a new
// device. Baseline in the same run ("token-" metrics): a token-enrolled
// agent's first connection, from enrollment and start until the first
// byte from wiki, whose policy asks for no sign-in.
func BenchmarkSignInFirstTunnel(b *testing.B) {
	env := New(b, Options{
		Controller: func(c *controller.Config) { c.GrantRequestRate, c.GrantRequestBurst = 1000, 1000 },
		Server: func(c *httpapi.Config) {
			c.SignIn.DeviceFlow.Interval = time.Second
			fast := httpapi.Rate{Every: time.Millisecond, Burst: 1000} // the flow is measured, not the limiters
			c.SignIn.DeviceAuth, c.SignIn.Pages = fast, fast
		},
	})
	env.Standard(b)
	ctx := context.Background()
	p, err := adminclient.Get[api.Policy](ctx, env.Admin, api.PathPolicies, "eng-grafana")
	Must(b, err)
	p.RequireSignIn = true
	Must(b, adminclient.Update(ctx, env.Admin, api.PathPolicies, p.Name, &p))
	Must(b, adminclient.Create(ctx, env.Admin, api.PathPolicies, &api.Policy{Name: "eng-wiki", Groups: []string{"eng"}, Apps: []string{"wiki"}}))
	Must(b, env.Admin.SetPassword(ctx, "alice", testPassword))

	var signIn, token []time.Duration
	trial := func() int {
		start := time.Now()
		a := env.Agent(b, "alice")
		token = append(token, agentFirstByte(b, a, "wiki", start))
		Eventually(b, 10*time.Second, func() error {
			if !a.Status().Connected {
				return errors.New("agent not connected yet")
			}
			return nil
		})
		start = time.Now()
		l, err := a.Login(ctx)
		Must(b, err)
		approveOverHTTP(b, env, l.UserCode, "alice", testPassword, nil)
		signIn = append(signIn, agentFirstByte(b, a, "grafana", start))
		a.Stop()
		return len(signIn)
	}
	runTrials(b, benchSignInTrials, trial)
	reportLatencies(b, "", signIn)
	reportLatencies(b, "token-", token)
	b.ReportMetric(float64(len(signIn)), "trials")
}

// agentFirstByte retries until a connection to app through a gets its first
// byte and returns the time since start.
func agentFirstByte(tb testing.TB, a *Agent, app string, start time.Time) time.Duration {
	tb.Helper()
	var took time.Duration
	Eventually(tb, 15*time.Second, func() error {
		addr := ""
		for _, v := range a.Apps() {
			if v.Name == app && v.Allowed && len(v.LocalAddrs) > 0 {
				addr = v.LocalAddrs[0]
			}
		}
		if addr == "" {
			return errors.New(app + " not allowed yet")
		}
		if _, err := timeToFirstByte(addr); err != nil {
			return err
		}
		took = time.Since(start)
		return nil
	})
	return took
}
