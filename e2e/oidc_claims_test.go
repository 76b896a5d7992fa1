package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
	"github.com/gatehouse-ztna/gatehouse/internal/testidp"
)

// TestOIDCClaimsInConditions: a policy's condition reads the IdP's
// claims (user.claims). Alice (department sre at the IdP) and bob
// (department sales), both in engineering, sign in through the device
// flow; the policy giving wiki to eng on `user.claims.department ==
// "sre"` grants alice's tunnel and denies bob with a reason naming the
// condition; explain and `users get` show the claims. The IdP then moves alice to sales:
// at her link's next refresh the gateway cuts her open stream.
func TestOIDCClaimsInConditions(t *testing.T) {
	env, idp := newOIDCEnv(t, nil)
	ctx := context.Background()
	idp.AddUser(testidp.User{Subject: "u-alice", Username: "alice", Password: "pw-alice", Email: "alice@example.com", EmailVerified: true,
		Groups: []string{"engineering"}, Claims: map[string]any{"department": "sre", "employee_type": "staff"}})
	idp.AddUser(testidp.User{Subject: "u-bob", Username: "bob", Password: "pw-bob", Email: "bob@example.com", EmailVerified: true,
		Groups: []string{"engineering"}, Claims: map[string]any{"department": "sales", "employee_type": "staff"}})
	const cond = `user.claims.department == "sre"`
	Must(t, adminclient.Create(ctx, env.Admin, api.PathPolicies, &api.Policy{Name: "sre-wiki", Groups: []string{"eng"},
		Apps: []string{"wiki"}, PostureProfiles: []string{"secure"}, Condition: cond}))
	h := env.rawHome(t)

	da, atok, _, _ := idpDeviceSignIn(t, env, idp, "alice", "pw-alice")
	alice := connectRawPeer(t, h, da, atok.AccessToken)
	g := alice.Grant("wiki")
	s := g.OpenStream(g.Port())

	db, btok, _, _ := idpDeviceSignIn(t, env, idp, "bob", "pw-bob")
	bob := connectRawPeer(t, h, db, btok.AccessToken)
	denial(t, bob.request("wiki"), api.CodePolicyCondition, "sre-wiki", cond)

	ex, err := env.Admin.Explain(ctx, "", db.ID, "wiki")
	Must(t, err)
	if ex.User.Claims["department"] != "sales" || ex.User.Claims["sub"] != "u-bob" || ex.User.Claims["iss"] != idp.Issuer {
		t.Errorf("explain for bob: claims %v, want department sales, sub u-bob, iss %s", ex.User.Claims, idp.Issuer)
	}
	if _, ok := ex.User.Claims["nonce"]; ok {
		t.Errorf("explain for bob: claims %v carry the protocol claim nonce", ex.User.Claims)
	}
	u, err := adminclient.Get[api.User](ctx, env.Admin, api.PathUsers, "bob@example.com")
	Must(t, err)
	if u.Claims["department"] != "sales" || u.Claims["employee_type"] != "staff" {
		t.Errorf("users get bob@example.com: claims %v, want department sales, employee_type staff", u.Claims)
	}

	idp.SetClaims("u-alice", map[string]any{"department": "sales"})
	alice.send(api.TypeRefresh, api.RefreshMsg{RefreshToken: atok.RefreshToken})
	g.AssertGatewayCut(s, time.Second)
	denial(t, alice.request("wiki"), api.CodePolicyCondition, "sre-wiki")
}
