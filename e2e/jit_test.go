package e2e

import (
	"context"
	"errors"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
	"github.com/gatehouse-ztna/gatehouse/controller"
	"github.com/gatehouse-ztna/gatehouse/controller/httpapi"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
)

// jitWorld is the standard world plus app db, given to eng only with
// approval by group dba (bob, dave), at most 1h a request; carol is in
// neither group.
func jitWorld(t *testing.T) *Env {
	t.Helper()
	return jitWorldWith(t, Options{})
}

// jitWorldWith is jitWorld on an Env started with opts (its Controller
// hook is jitWorld's).
func jitWorldWith(t *testing.T, opts Options) *Env {
	t.Helper()
	opts.Controller = func(c *controller.Config) { c.MinAccess = time.Second }
	env := New(t, opts)
	env.Standard(t)
	ctx := context.Background()
	Must(t, adminclient.Create(ctx, env.Admin, api.PathApps, &api.App{Name: "db", Upstreams: []string{env.Upstream(t, "db")}}))
	for _, u := range []api.User{{Name: "bob", Groups: []string{"dba"}}, {Name: "dave", Groups: []string{"dba"}}, {Name: "carol", Groups: []string{}}} {
		Must(t, adminclient.Create(ctx, env.Admin, api.PathUsers, &u))
	}
	env.admin(t, false, "policies", "create", "eng-db-jit", "--groups", "eng", "--apps", "db", "--approvers", "dba", "--max-access", "1h")
	return env
}

// person is a signed-in approver as the admin API's auth finds one
// (gatehouse admin login): the core decides who may approve from it.
func person(name string) controller.Actor {
	return controller.Actor{Kind: controller.ActorUser, Name: name, Role: identity.Auditor}
}

var requestID = regexp.MustCompile(`request (req_[0-9a-f]+) `)

// TestJITAccessEndToEnd: `gatehouse request db` through the real agent →
// pending, and db is denied with that reason (to the agent and to an
// uncooperative client) → the requester cannot approve it herself, a
// non-approver cannot, an API token cannot → an approver approves it for
// less than asked → db works through real WireGuard (a real HTTP
// answer), `gatehouse apps` says until when, and no lease reaches past
// the approved end → at the end the gateway resets the open flows, the
// uncooperative client's too, the record says expired, and the denial
// tells the user when it expired and how to ask again.
func TestJITAccessEndToEnd(t *testing.T) {
	env := jitWorld(t)
	ctx := context.Background()
	a := env.Agent(t, "alice")
	raw := env.RawPeer(t, "alice")

	before := a.Decision("db", false, 5*time.Second)
	if before[0].Code != api.CodeAccessRequired || !strings.Contains(before[0].Remediation, "gatehouse request db") {
		t.Fatalf("db before any request: %+v, want %s telling how to ask", before, api.CodeAccessRequired)
	}
	if out, err := exec.Command(cli(t), "--socket", a.Socket, "request", "db", "--for", "1h").CombinedOutput(); err == nil || !strings.Contains(string(out), "reason is required") {
		t.Errorf("gatehouse request without --reason = %v %q, want refused: a reason is required", err, out)
	}
	out := a.run(t, "request", "db", "--reason", "incident 42", "--for", "1h")
	m := requestID.FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "pending") || !strings.Contains(out, "dba") {
		t.Fatalf("gatehouse request = %q, want a pending request decided by dba", out)
	}
	id := m[1]
	a.Eventually(5*time.Second, func() error {
		if r := a.Decision("db", false, time.Second); r[0].Code != api.CodeAccessPending {
			return errors.New("db not pending yet: " + api.ReasonsText(r))
		}
		return nil
	})
	denial(t, raw.request("db"), api.CodeAccessPending, "waits for approval", "dba")
	if apps := a.run(t, "apps"); !strings.Contains(apps, "db: denied") || !strings.Contains(apps, "waits for approval by group dba") {
		t.Errorf("gatehouse apps while pending = %q, want db denied, waiting for dba", apps)
	}

	// Who may not decide it.
	for name, who := range map[string]controller.Actor{"the requester": person("alice"), "a non-approver": person("carol")} {
		if _, _, err := env.Ctrl.Requests.Approve(ctx, who, id, api.AccessDecisionInput{}); !errors.Is(err, controller.ErrForbidden) {
			t.Errorf("Approve by %s = %v, want ErrForbidden", name, err)
		}
	}
	var apiErr *adminclient.Error
	if _, err := env.Admin.ApproveAccessRequest(ctx, id, api.AccessDecisionInput{}); !errors.As(err, &apiErr) || apiErr.Status != 403 ||
		!strings.Contains(apiErr.Message, "approvals need a person") {
		t.Errorf("POST approve with the owner's API token = %v, want 403: approvals need a person", err)
	}
	listed, err := env.Admin.AccessRequests(ctx, api.RequestPending)
	Must(t, err)
	if len(listed) != 1 || listed[0].ID != id || listed[0].Reason != "incident 42" || listed[0].User != "alice" {
		t.Fatalf("GET pending requests = %+v, want alice's %s", listed, id)
	}
	if list := env.admin(t, false, "requests", "list", "--pending"); !strings.Contains(list, id) || !strings.Contains(list, "incident 42") {
		t.Errorf("gatehouse admin requests list --pending = %q, want %s", list, id)
	}

	// bob approves for 4 s of the hour asked.
	const granted = 4 * time.Second
	approved, _, err := env.Ctrl.Requests.Approve(ctx, person("bob"), id, api.AccessDecisionInput{For: api.Duration(granted), Note: "go"})
	Must(t, err)
	end := approved.ExpiresAt
	if approved.State != api.RequestApproved || approved.DecidedBy != "user:bob" || time.Duration(approved.Granted) != granted {
		t.Fatalf("Approve = %+v, want approved by user:bob for %s", approved, granted)
	}
	a.Decision("db", true, 5*time.Second)
	if body, err := a.Get("db", "/"); err != nil || body != "hello from db" {
		t.Fatalf("GET db through the agent after approval = %q, %v, want the app's answer", body, err)
	}
	if apps := a.run(t, "apps"); !strings.Contains(apps, "db: allowed until") {
		t.Errorf("gatehouse apps after approval = %q, want db allowed until …", apps)
	}
	g := raw.Grant("db")
	if left := time.Until(end); time.Duration(g.Lease) > left+100*time.Millisecond {
		t.Errorf("grant lease %v reaches past the approved end (%v left): the gateway would keep it", time.Duration(g.Lease), left)
	}
	rawFlow := g.OpenStream(g.Port())
	agentFlow := a.OpenStream("db")

	// The end: the gateway cuts both flows, the uncooperative one too.
	g.AssertGatewayCut(rawFlow, time.Until(end)+2*time.Second)
	agentFlow.AwaitEnd(t, 2*time.Second)
	rawFlow.mu.Lock()
	cutAt := rawFlow.endedAt.Sub(end)
	rawFlow.mu.Unlock()
	t.Logf("the uncooperative client's flow was reset %v after the approved end", cutAt.Round(time.Millisecond))
	if cutAt < -100*time.Millisecond || cutAt > time.Second {
		t.Errorf("flow reset %v after the approved end, want within 1 s of it (and not before)", cutAt)
	}
	if !raw.Revoked() {
		t.Errorf("the uncooperative client was not told of the revocation")
	}
	Eventually(t, 2*time.Second, func() error {
		rs, err := env.Admin.AccessRequests(ctx, api.RequestExpired)
		if err != nil {
			return err
		}
		if len(rs) != 1 || rs[0].ID != id || !rs[0].EndedAt.Equal(end) {
			return errors.New("no expired record of " + id + " yet")
		}
		return nil
	})
	after := a.Decision("db", false, 5*time.Second)
	if after[0].Code != api.CodeAccessExpired || !strings.Contains(after[0].Message, "your access to db expired at") ||
		!strings.Contains(after[0].Remediation, "gatehouse request db") {
		t.Errorf("db after the end: %+v, want %s saying when and how to ask again", after, api.CodeAccessExpired)
	}
	denial(t, raw.request("db"), api.CodeAccessExpired, "expired at")
	if _, err := a.Get("grafana", "/"); err != nil {
		t.Errorf("grafana (no approval needed) after db's access ended: %v, want it untouched", err)
	}
}

// TestJITDenyAndRace: an approver's denial with a note is final (nothing
// approves it after), db stays denied; an approval and a denial racing
// are decided by one compare-and-set in the store: exactly one wins.
func TestJITDenyAndRace(t *testing.T) {
	env := jitWorld(t)
	ctx := context.Background()
	a := env.Agent(t, "alice")
	a.Decision("db", false, 5*time.Second)
	id := requestID.FindStringSubmatch(a.run(t, "request", "db", "--reason", "look at a table", "--for", "30m"))[1]
	if _, _, err := env.Ctrl.Requests.Deny(ctx, person("bob"), id, api.AccessDecisionInput{}); !errors.Is(err, controller.ErrInvalid) {
		t.Errorf("Deny without a note = %v, want ErrInvalid", err)
	}
	denied, _, err := env.Ctrl.Requests.Deny(ctx, person("bob"), id, api.AccessDecisionInput{Note: "use the replica"})
	Must(t, err)
	if denied.State != api.RequestDenied || denied.Note != "use the replica" {
		t.Fatalf("Deny = %+v", denied)
	}
	if _, _, err := env.Ctrl.Requests.Approve(ctx, person("dave"), id, api.AccessDecisionInput{}); !errors.Is(err, controller.ErrConflict) {
		t.Errorf("Approve after the denial = %v, want ErrConflict", err)
	}
	a.Eventually(5*time.Second, func() error {
		if r := a.Decision("db", false, time.Second); r[0].Code != api.CodeAccessDenied || !strings.Contains(r[0].Message, "denied by user:bob: use the replica") {
			return errors.New("db after the denial: " + api.ReasonsText(r) + ", want " + api.CodeAccessDenied + " with the note")
		}
		return nil
	})

	// A request withdrawn through the CLI.
	id = requestID.FindStringSubmatch(a.run(t, "request", "db", "--reason", "oops", "--for", "30m"))[1]
	if out := a.run(t, "request", "--cancel", id); !strings.Contains(out, "cancelled") {
		t.Errorf("gatehouse request --cancel = %q, want cancelled", out)
	}

	// A new request; bob approves while dave denies.
	id = requestID.FindStringSubmatch(a.run(t, "request", "db", "--reason", "again", "--for", "30m"))[1]
	errs := make(chan error, 2)
	go func() {
		_, _, err := env.Ctrl.Requests.Approve(ctx, person("bob"), id, api.AccessDecisionInput{})
		errs <- err
	}()
	go func() {
		_, _, err := env.Ctrl.Requests.Deny(ctx, person("dave"), id, api.AccessDecisionInput{Note: "no"})
		errs <- err
	}()
	results := []error{<-errs, <-errs}
	if n := slices.IndexFunc(results, func(e error) bool { return e == nil }); n < 0 || results[1-n] == nil || !errors.Is(results[1-n], controller.ErrConflict) {
		t.Fatalf("racing approve and deny = %v, want one success and one ErrConflict", results)
	}
	all, err := env.Admin.AccessRequests(ctx, "")
	Must(t, err)
	if len(all) != 3 || all[1].State != api.RequestCancelled || all[0].ID != id || (all[0].State != api.RequestApproved && all[0].State != api.RequestDenied) {
		t.Errorf("requests = %+v, want the newest decided once, one cancelled and the first denied", all)
	}
}

// TestJITGatewayEndsAccessOnItsOwn: the gateway needs nobody to end
// approved access. The request comes from an uncooperative client on its
// own link (the wire message, no agent), and once its flow is open the
// controller can no longer reach the gateway: its revocation at the end
// goes nowhere and the client ignores its own. The grant's lease was
// never given past the approved end, so the gateway's own timer resets
// the flow and drops the peer then.
func TestJITGatewayEndsAccessOnItsOwn(t *testing.T) {
	env := jitWorld(t)
	ctx := context.Background()
	raw := env.RawPeer(t, "alice")
	raw.send(api.TypeAccessRequest, api.AccessRequestMsg{Seq: 7, AccessRequestInput: api.AccessRequestInput{App: "db", Reason: "raw", For: api.Duration(time.Hour)}})
	var res api.AccessResultMsg
	Must(t, raw.await(5*time.Second, "access result", func(m api.Envelope) bool { return m.Type == api.TypeAccessResult }).Decode(&res))
	if res.Seq != 7 || res.Request == nil || res.Request.State != api.RequestPending || res.Request.Device != raw.DeviceID() {
		t.Fatalf("access result = %+v, want request 7 pending for the raw device", res)
	}
	approved, _, err := env.Ctrl.Requests.Approve(ctx, person("dave"), res.Request.ID, api.AccessDecisionInput{For: api.Duration(3 * time.Second)})
	Must(t, err)
	g := raw.Grant("db")
	flow := g.OpenStream(g.Port())
	env.Link.Cut()
	g.AssertGatewayCut(flow, time.Until(approved.ExpiresAt)+2*time.Second)
	flow.mu.Lock()
	cutAt := flow.endedAt.Sub(approved.ExpiresAt)
	flow.mu.Unlock()
	t.Logf("with the controller cut off, the gateway reset the flow %v after the approved end", cutAt.Round(time.Millisecond))
	if cutAt < -100*time.Millisecond || cutAt > time.Second {
		t.Errorf("flow reset %v after the approved end, want within 1 s of it (and not before)", cutAt)
	}
}

// TestJITSurvivesRestart: approved access is state in the database: a
// restarted controller still gives it until the same end, and the agent
// reaches the app through a new grant.
func TestJITSurvivesRestart(t *testing.T) {
	env := jitWorld(t)
	ctx := context.Background()
	a := env.Agent(t, "alice")
	a.Decision("db", false, 5*time.Second)
	id := requestID.FindStringSubmatch(a.run(t, "request", "db", "--reason", "restart drill", "--for", "1h"))[1]
	approved, _, err := env.Ctrl.Requests.Approve(ctx, person("bob"), id, api.AccessDecisionInput{})
	Must(t, err)
	env.RestartController(t)
	if got := env.Ctrl.Requests.Access("alice")["db"]; !got.Until.Equal(approved.ExpiresAt) {
		t.Fatalf("access after restart = %+v, want until %v", got, approved.ExpiresAt)
	}
	a.Eventually(10*time.Second, func() error {
		body, err := a.Get("db", "/")
		if err == nil && body != "hello from db" {
			err = errors.New("unexpected answer " + body)
		}
		return err
	})
}

// TestJITApproverCLI: an approver signed in with the real `gatehouse
// admin login` lists the pending request and approves it for less than
// asked with `gatehouse admin requests approve`; the record names them,
// a later deny is refused, and `gatehouse admin requests revoke` ends the
// access early: the open flow is cut and the user is told who ended it.
func TestJITApproverCLI(t *testing.T) {
	env := jitWorldWith(t, Options{Server: func(c *httpapi.Config) { c.SignIn.DeviceFlow.Interval = time.Second }})
	ctx := context.Background()
	Must(t, env.Admin.AddMember(ctx, "dba", OwnerName))
	a := env.Agent(t, "alice")
	a.Decision("db", false, 5*time.Second)
	id := requestID.FindStringSubmatch(a.run(t, "request", "db", "--reason", "quarterly report", "--for", "1h"))[1]
	vars, _, gh := ownerAdminLogin(t, env)
	if list := runCmd(t, vars, false, gh, "admin", "requests", "list", "--pending"); !strings.Contains(list, id) || !strings.Contains(list, "quarterly report") {
		t.Errorf("gatehouse admin requests list --pending = %q, want %s", list, id)
	}
	out := runCmd(t, vars, false, gh, "admin", "requests", "approve", id, "--for", "10m", "--note", "ok")
	if !strings.Contains(out, "approved "+id) || !strings.Contains(out, "alice may reach db until") {
		t.Errorf("gatehouse admin requests approve = %q", out)
	}
	rs, err := env.Admin.AccessRequests(ctx, api.RequestApproved)
	Must(t, err)
	if len(rs) != 1 || rs[0].DecidedBy != "user:"+OwnerName || time.Duration(rs[0].Granted) != 10*time.Minute {
		t.Fatalf("approved requests = %+v, want %s's for 10m", rs, OwnerName)
	}
	a.Decision("db", true, 5*time.Second)
	if out := runCmd(t, vars, true, gh, "admin", "requests", "deny", id, "--note", "no"); !strings.Contains(out, "approved already") {
		t.Errorf("gatehouse admin requests deny of an approved request = %q, want refused: approved already", out)
	}
	body, err := a.Get("db", "/")
	if err != nil || body != "hello from db" {
		t.Fatalf("GET db after approval = %q, %v", body, err)
	}
	flow := a.OpenStream("db")
	if out := runCmd(t, vars, false, gh, "admin", "requests", "revoke", id, "--note", "report done"); !strings.Contains(out, "alice no longer reaches db") {
		t.Errorf("gatehouse admin requests revoke = %q", out)
	}
	flow.AwaitEnd(t, 2*time.Second)
	a.Eventually(5*time.Second, func() error {
		if r := a.Decision("db", false, time.Second); r[0].Code != api.CodeAccessDenied || !strings.Contains(r[0].Message, "ended early by user:owner: report done") {
			return errors.New("db after the revocation: " + api.ReasonsText(r))
		}
		return nil
	})
}
