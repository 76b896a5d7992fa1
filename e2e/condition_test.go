package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
)

// TestAdminCLIPolicyCondition: `gatehouse admin policies create
// --condition` stores a CEL condition that type-checks, shows it in the
// list, and refuses one that does not with its line and column, storing
// nothing.
func TestAdminCLIPolicyCondition(t *testing.T) {
	env := New(t, Options{})
	env.Standard(t)
	cond := "'eng' in user.groups && request.time.getHours('Europe/Berlin') >= 9"
	env.admin(t, false, "policies", "create", "eng-wiki-hours", "--groups", "eng", "--apps", "wiki", "--condition", cond)
	out := env.admin(t, true, "policies", "create", "bad", "--groups", "eng", "--apps", "wiki", "--condition", "user.groups.size() >")
	if !strings.Contains(out, "<input>:1:") || !strings.Contains(out, "--condition") {
		t.Errorf("policies create --condition with a syntax error = %q, want the flag and the line and column named", out)
	}
	list := env.admin(t, false, "policies", "list")
	if !strings.Contains(list, "CONDITION") || !strings.Contains(list, cond) || strings.Contains(list, "bad") {
		t.Errorf("gatehouse admin policies list = %q, want the condition %q and no policy \"bad\"", list, cond)
	}
	p, err := adminclient.Get[api.Policy](context.Background(), env.Admin, api.PathPolicies, "eng-wiki-hours")
	Must(t, err)
	if p.Condition != cond {
		t.Errorf("GET policy eng-wiki-hours condition = %q, want %q", p.Condition, cond)
	}

	// The controller decides with the condition compiled at its reload:
	// false denies with policy.condition, true grants.
	peer := env.RawPeer(t, "alice")
	p.Condition = "user.name == 'bob'"
	Must(t, adminclient.Update(context.Background(), env.Admin, api.PathPolicies, p.Name, &p))
	denial(t, peer.request("wiki"), api.CodePolicyCondition, `policy "eng-wiki-hours"`, "user.name == 'bob'", "is false")
	p.Condition = "'eng' in user.groups && !user.signed_in"
	Must(t, adminclient.Update(context.Background(), env.Admin, api.PathPolicies, p.Name, &p))
	if answer := peer.request("wiki"); answer.Type != api.TypeGrant {
		t.Errorf("grant request under a true condition = %s %s, want a grant", answer.Type, answer.Data)
	}
}
