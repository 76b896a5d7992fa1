package httpapi

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
)

// roleWorld is a controller with an owner, a token per role and an object
// in every area: user alice with a device, app grafana, profile p.
type roleWorld struct {
	c      *testController
	owner  *adminclient.Client
	as     map[string]*adminclient.Client // by role
	device string
}

func newRoleWorld(t *testing.T) *roleWorld {
	t.Helper()
	c, owner, _ := startAdminController(t, t.TempDir())
	ctx := context.Background()
	w := &roleWorld{c: c, owner: owner, as: map[string]*adminclient.Client{}}
	mustCreate(t, owner, api.PathUsers, api.User{Name: "alice"})
	mustCreate(t, owner, api.PathApps, api.App{Name: "grafana", Upstreams: []string{"127.0.0.1:3000"}})
	mustCreate(t, owner, api.PathPostureProfiles, api.PostureProfile{Name: "p"})
	tok := newToken(t, owner, "alice")
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	dev, _, err := c.core.Enrollment.Enroll(ctx, api.EnrollRequest{Token: tok.Token, PublicKey: base64.StdEncoding.EncodeToString(pub), Hostname: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	w.device = dev.ID
	for _, r := range identity.Roles {
		t, err := owner.CreateAPIToken(ctx, api.APITokenRequest{Name: "as-" + string(r), Role: string(r), TTL: api.Duration(time.Hour)})
		if err != nil {
			panic(err)
		}
		w.as[string(r)] = owner.WithToken(t.Token)
	}
	return w
}

// TestRoleMatrixOverHTTP: every role against a read and a write of every
// area of the admin API: what docs/identity.md's table allows answers
// 2xx, the rest 403 naming the role and what it may not do.
func TestRoleMatrixOverHTTP(t *testing.T) {
	w := newRoleWorld(t)
	type req struct {
		method, path string
		body         func(role string) any
	}
	same := func(v any) func(string) any { return func(string) any { return v } }
	areas := []struct {
		area        identity.Area
		read, write req
	}{
		{identity.AreaUsers, req{"GET", api.PathUsers, nil},
			req{"PUT", api.PathUsers + "/alice", same(api.User{Name: "alice", Email: "alice@example.com"})}},
		{identity.AreaApps, req{"GET", api.PathApps, nil},
			req{"PUT", api.PathApps + "/grafana", same(api.App{Name: "grafana", Upstreams: []string{"127.0.0.1:3000"}})}},
		{identity.AreaPolicies, req{"GET", api.PathPolicies, nil},
			req{"PUT", api.PathPostureProfiles + "/p", same(api.PostureProfile{Name: "p", Firewall: true})}},
		{identity.AreaGateways, req{"GET", api.PathGateways, nil},
			req{"POST", api.PathGatewayTokens, func(role string) any { return api.GatewayTokenRequest{Name: "site-" + role} }}},
		{identity.AreaEnrollment, req{"GET", api.PathEnrollmentTokens, nil},
			req{"POST", api.PathEnrollmentTokens, same(api.EnrollmentTokenRequest{User: "alice"})}},
		{identity.AreaSettings, req{"GET", api.PathSettings, nil},
			req{"PUT", api.PathSettings, same(api.Settings{})}},
		{identity.AreaDevices, req{"GET", api.PathDevices, nil},
			req{"PUT", api.PathDevices + "/" + w.device + "/" + api.DeviceLabel, same(api.DeviceLabelRequest{Name: "laptop", Tags: []string{"eng"}})}},
		{identity.AreaSessions, req{"GET", api.PathSessions, nil},
			req{"DELETE", api.PathSessions + "?user=alice", nil}},
		{identity.AreaAdmins, req{"GET", api.PathAdmins, nil},
			req{"PUT", api.PathUsers + "/alice/" + api.UserRole, same(api.RoleRequest{Role: ""})}},
	}
	// docs/identity.md "Roles", spelled out: the areas each role may
	// read and write.
	reads := map[string]string{
		"owner": "users apps policies gateways enrollment settings devices sessions admins",
		"admin": "users apps policies gateways enrollment settings devices sessions admins", "auditor": "users apps policies gateways enrollment settings devices sessions admins",
		"helpdesk": "devices sessions"}
	writes := map[string]string{
		"owner": "users apps policies gateways enrollment settings devices sessions admins",
		"admin": "users apps policies gateways enrollment settings devices sessions", "auditor": "", "helpdesk": "devices sessions"}
	ctx := context.Background()
	for _, role := range identity.Roles {
		for _, a := range areas {
			for _, op := range []struct {
				verb    string
				r       req
				allowed string
			}{{"read", a.read, reads[string(role)]}, {"write", a.write, writes[string(role)]}} {
				name := fmt.Sprintf("%s %s %s", role, op.verb, a.area)
				t.Run(name, func(t *testing.T) {
					var body any
					if op.r.body != nil {
						body = op.r.body(string(role))
					}
					err := w.as[string(role)].Do(ctx, op.r.method, op.r.path, body, nil)
					if strings.Contains(" "+op.allowed+" ", " "+string(a.area)+" ") {
						if err != nil {
							t.Errorf("%s %s as %s = %v, want 2xx", op.r.method, op.r.path, role, err)
						}
						return
					}
					wantStatus(t, fmt.Sprintf("%s %s as %s", op.r.method, op.r.path, role), err, http.StatusForbidden,
						fmt.Sprintf("role %q) may not %s %s", role, op.verb, a.area))
				})
			}
		}
	}
}

// TestAPITokensRefusedWhenExpiredRevokedOrAboveTheIssuer: an expired or
// revoked API token gets 401; nobody issues a token above their own role,
// and only owners change roles.
func TestAPITokensRefusedWhenExpiredRevokedOrAboveTheIssuer(t *testing.T) {
	w := newRoleWorld(t)
	ctx := context.Background()
	short, err := w.owner.CreateAPIToken(ctx, api.APITokenRequest{Name: "short", Role: "owner", TTL: api.Duration(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	doomed, err := w.owner.CreateAPIToken(ctx, api.APITokenRequest{Name: "doomed", Role: "auditor", TTL: api.Duration(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adminclient.List[api.User](ctx, w.owner.WithToken(doomed.Token), api.PathUsers); err != nil {
		t.Fatalf("List(users) with a fresh auditor token = %v, want nil", err)
	}
	if err := w.owner.RevokeAPIToken(ctx, doomed.ID); err != nil {
		t.Fatalf("RevokeAPIToken(%s) = %v", doomed.ID, err)
	}
	_, err = adminclient.List[api.User](ctx, w.owner.WithToken(doomed.Token), api.PathUsers)
	wantStatus(t, "List(users) with a revoked token", err, http.StatusUnauthorized, "expired or revoked", "doomed")
	time.Sleep(1100 * time.Millisecond)
	_, err = adminclient.List[api.User](ctx, w.owner.WithToken(short.Token), api.PathUsers)
	wantStatus(t, "List(users) with an expired token", err, http.StatusUnauthorized, "expired or revoked", "short")
	_, err = adminclient.List[api.User](ctx, w.owner.WithToken("ghk_"+strings.Repeat("A", 43)), api.PathUsers)
	wantStatus(t, "List(users) with an unknown ghk_ token", err, http.StatusUnauthorized, "ask an admin for a new API token")

	tests := []struct {
		issuer, role string
		want         int
	}{
		{"owner", "owner", 0}, {"admin", "owner", http.StatusForbidden}, {"admin", "admin", 0}, {"admin", "helpdesk", 0},
		{"auditor", "auditor", http.StatusForbidden}, {"helpdesk", "helpdesk", http.StatusForbidden},
		{"owner", "root", http.StatusBadRequest},
	}
	for i, tt := range tests {
		_, err := w.as[tt.issuer].CreateAPIToken(ctx, api.APITokenRequest{Name: fmt.Sprintf("t%d", i), Role: tt.role, TTL: api.Duration(time.Hour)})
		if got, _ := adminStatus(err); got != tt.want {
			t.Errorf("CreateAPIToken(role %s) as %s = %v, want status %d", tt.role, tt.issuer, err, tt.want)
		}
	}
	_, err = w.owner.CreateAPIToken(ctx, api.APITokenRequest{Name: "forever", Role: "auditor", TTL: api.Duration(400 * 24 * time.Hour)})
	wantStatus(t, "CreateAPIToken(ttl 400 days)", err, http.StatusBadRequest, "at most")
	err = w.as["admin"].SetRole(ctx, "alice", "admin")
	wantStatus(t, "SetRole as admin", err, http.StatusForbidden, "may not write admins")
	if err := w.owner.SetRole(ctx, "alice", "admin"); err != nil {
		t.Errorf("SetRole(alice, admin) as owner = %v, want nil", err)
	}
	err = w.owner.SetRole(ctx, "alice", "superuser")
	wantStatus(t, "SetRole(superuser)", err, http.StatusBadRequest, "unknown role")
}

// TestLastOwnerStays: the last owner can neither be deleted through the
// users API nor step down; with a second owner both work.
func TestLastOwnerStays(t *testing.T) {
	w := newRoleWorld(t)
	ctx := context.Background()
	err := w.owner.Delete(ctx, api.PathUsers, "owner")
	wantStatus(t, "Delete(the last owner)", err, http.StatusConflict, "last owner", "set-role")
	err = w.owner.SetRole(ctx, "owner", "admin")
	wantStatus(t, "SetRole(the last owner, admin)", err, http.StatusConflict, "last owner")
	if _, err := adminclient.Get[api.User](ctx, w.owner, api.PathUsers, "owner"); err != nil {
		t.Fatalf("Get(owner) after refused deletion = %v, want the owner still there", err)
	}
	if err := w.owner.SetRole(ctx, "alice", "owner"); err != nil {
		t.Fatal(err)
	}
	if err := w.owner.Delete(ctx, api.PathUsers, "owner"); err != nil {
		t.Errorf("Delete(owner) with alice also owner = %v, want nil", err)
	}
	admins, err := adminclient.List[api.AdminAccount](ctx, w.owner, api.PathAdmins)
	if err != nil || len(admins) != 1 || admins[0].User != "alice" {
		t.Errorf("List(admins) = %+v, %v, want alice alone", admins, err)
	}
}

// TestSessionsOverHTTP: sessions made by sign-in are listed, a session's
// own token cannot call the admin API, a password set through the API
// ends the user's sessions, and ending them by ID and by user works.
func TestSessionsOverHTTP(t *testing.T) {
	w := newRoleWorld(t)
	ctx := context.Background()
	id := w.c.core.Identity
	const pw = "alice's long passphrase"
	if err := w.owner.SetPassword(ctx, "alice", pw); err != nil {
		t.Fatal(err)
	}
	signIn := func(pw string) (identity.Session, identity.Tokens) {
		t.Helper()
		p, err := id.CheckPassword(ctx, identity.Login{User: "alice", Password: pw, Source: netip.MustParseAddr("127.0.0.1")})
		if err != nil {
			t.Fatal(err)
		}
		s, tok, err := id.StartSession(ctx, p, w.device)
		if err != nil {
			t.Fatal(err)
		}
		return s, tok
	}
	s1, tok1 := signIn(pw)
	s2, _ := signIn(pw)
	desk := w.as["helpdesk"]
	ss, err := desk.UserSessions(ctx, "alice")
	if err != nil || len(ss) != 2 || !ss[0].Live || !ss[1].Live || ss[0].Device != w.device {
		t.Fatalf("UserSessions(alice) = %+v, %v, want two live sessions on %s", ss, err, w.device)
	}
	all, err := desk.AllSessions(ctx)
	if err != nil || len(all) != 2 {
		t.Errorf("AllSessions() = %+v, %v, want alice's two", all, err)
	}
	_, err = adminclient.List[api.User](ctx, w.owner.WithToken(tok1.Access), api.PathUsers)
	wantStatus(t, "List(users) with a session's access token", err, http.StatusUnauthorized, "needs the proof")

	if err := desk.RevokeSession(ctx, s1.ID); err != nil {
		t.Errorf("RevokeSession(%s) = %v", s1.ID, err)
	}
	err = desk.RevokeSession(ctx, "nope")
	wantStatus(t, "RevokeSession(nope)", err, http.StatusNotFound)
	// A new password ends the rest.
	const pw2 = "another long passphrase"
	if err := w.owner.SetPassword(ctx, "alice", pw2); err != nil {
		t.Fatal(err)
	}
	ss, err = desk.UserSessions(ctx, "alice")
	if err != nil || len(ss) != 2 {
		t.Fatalf("UserSessions(alice) = %+v, %v", ss, err)
	}
	for _, s := range ss {
		want := map[string]string{s1.ID: identity.ReasonAdmin, s2.ID: identity.ReasonPasswordChanged}[s.ID]
		if s.Live || s.RevokeReason != want {
			t.Errorf("session %s after revoke and password change: live %v, reason %q, want ended (%s)", s.ID, s.Live, s.RevokeReason, want)
		}
	}
	signIn(pw2)
	n, err := desk.RevokeUserSessions(ctx, "alice")
	if err != nil || n != 1 {
		t.Errorf("RevokeUserSessions(alice) = %d, %v, want 1", n, err)
	}
	_, err = desk.RevokeUserSessions(ctx, "nobody")
	wantStatus(t, "RevokeUserSessions(nobody)", err, http.StatusNotFound)
}
