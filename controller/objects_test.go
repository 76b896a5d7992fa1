package controller

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
)

// testOwner is an owner's API token, as the HTTP layer would find it.
var testOwner = Actor{Kind: ActorAPIToken, Name: "test", Role: identity.Owner}

// newCore starts a controller core over a fresh data dir.
func newCore(t *testing.T) *Controller {
	t.Helper()
	c, err := New(context.Background(), Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("New = %v, want a controller", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// enrollDevice enrolls a device for user (who must exist) and returns it.
func enrollDevice(t *testing.T, c *Controller, user string) api.Device {
	t.Helper()
	ctx := context.Background()
	tok, _, err := c.Enrollment.CreateToken(ctx, testOwner, api.EnrollmentTokenRequest{User: user})
	if err != nil {
		t.Fatalf("Enrollment.CreateToken(%q) = %v", user, err)
	}
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	dev, _, err := c.Enrollment.Enroll(ctx, api.EnrollRequest{Token: tok.Token, PublicKey: base64.StdEncoding.EncodeToString(pub), Hostname: "laptop"})
	if err != nil {
		t.Fatalf("Enrollment.Enroll = %v", err)
	}
	return dev
}

// TestOperationsRefuseAnyoneButAnAdmin: every admin operation refuses the
// zero Actor and a non-admin one with ErrForbidden, and changes nothing.
func TestOperationsRefuseAnyoneButAnAdmin(t *testing.T) {
	c := newCore(t)
	ctx := context.Background()
	if _, _, err := c.Users.Create(ctx, testOwner, api.User{Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	dev := enrollDevice(t, c, "alice")
	app := api.App{Name: "grafana", Upstreams: []string{"127.0.0.1:3000"}}
	ops := map[string]func(Actor) error{
		"Users.List":   func(a Actor) error { _, err := c.Users.List(ctx, a); return err },
		"Users.Get":    func(a Actor) error { _, err := c.Users.Get(ctx, a, "alice"); return err },
		"Users.Create": func(a Actor) error { _, _, err := c.Users.Create(ctx, a, api.User{Name: "eve"}); return err },
		"Users.Update": func(a Actor) error {
			_, _, err := c.Users.Update(ctx, a, api.User{Name: "alice", Email: "x@example.com"})
			return err
		},
		"Users.Delete":  func(a Actor) error { _, err := c.Users.Delete(ctx, a, "alice"); return err },
		"Groups.Create": func(a Actor) error { _, _, err := c.Groups.Create(ctx, a, api.Group{Name: "eng"}); return err },
		"Apps.Create":   func(a Actor) error { _, _, err := c.Apps.Create(ctx, a, app); return err },
		"Profiles.Create": func(a Actor) error {
			_, _, err := c.PostureProfiles.Create(ctx, a, api.PostureProfile{Name: "p"})
			return err
		},
		"Policies.Delete": func(a Actor) error { _, err := c.Policies.Delete(ctx, a, "p"); return err },
		"Members.Add":     func(a Actor) error { _, err := c.Members.Add(ctx, a, "eng", "alice"); return err },
		"Members.Remove":  func(a Actor) error { _, err := c.Members.Remove(ctx, a, "eng", "alice"); return err },
		"CreateToken": func(a Actor) error {
			_, _, err := c.Enrollment.CreateToken(ctx, a, api.EnrollmentTokenRequest{User: "alice"})
			return err
		},
		"ListTokens":     func(a Actor) error { _, err := c.Enrollment.ListTokens(ctx, a); return err },
		"RevokeToken":    func(a Actor) error { _, err := c.Enrollment.RevokeToken(ctx, a, "et_x"); return err },
		"Auth.Rotate":    func(a Actor) error { _, _, err := c.Auth.Rotate(ctx, a); return err },
		"Devices.List":   func(a Actor) error { _, err := c.Devices.List(ctx, a); return err },
		"Devices.Delete": func(a Actor) error { _, err := c.Devices.Delete(ctx, a, dev.ID); return err },
		"Devices.Grants": func(a Actor) error { _, err := c.Devices.Grants(ctx, a); return err },
		"Gateways.Create": func(a Actor) error {
			_, _, err := c.Gateways.CreateToken(ctx, a, api.GatewayTokenRequest{Name: "site-a"})
			return err
		},
		"Gateways.Tokens":   func(a Actor) error { _, err := c.Gateways.ListTokens(ctx, a); return err },
		"Gateways.List":     func(a Actor) error { _, err := c.Gateways.List(ctx, a); return err },
		"Gateways.Delete":   func(a Actor) error { _, err := c.Gateways.Delete(ctx, a, "site-a"); return err },
		"Gateways.Peers":    func(a Actor) error { _, err := c.Gateways.Peers(ctx, a); return err },
		"Devices.Approve":   func(a Actor) error { _, err := c.Devices.Approve(ctx, a, dev.ID); return err },
		"Devices.Block":     func(a Actor) error { _, err := c.Devices.Block(ctx, a, dev.ID); return err },
		"Admins.List":       func(a Actor) error { _, err := c.Admins.List(ctx, a); return err },
		"Admins.SetRole":    func(a Actor) error { _, err := c.Admins.SetRole(ctx, a, "alice", "owner"); return err },
		"Admins.Disable":    func(a Actor) error { _, err := c.Admins.Disable(ctx, a, "alice"); return err },
		"Admins.Unlock":     func(a Actor) error { _, err := c.Admins.Unlock(ctx, a, "alice"); return err },
		"Admins.BeginTOTP":  func(a Actor) error { _, _, err := c.Admins.BeginTOTP(ctx, a, "alice"); return err },
		"Admins.Sessions":   func(a Actor) error { _, err := c.Admins.AllSessions(ctx, a); return err },
		"Admins.RevokeUser": func(a Actor) error { _, _, err := c.Admins.RevokeUserSessions(ctx, a, "alice"); return err },
		"Admins.Settings":   func(a Actor) error { _, err := c.Admins.Settings(ctx, a); return err },
		"Admins.CreateAPIToken": func(a Actor) error {
			_, _, err := c.Admins.CreateAPIToken(ctx, a, api.APITokenRequest{Name: "x", Role: "auditor", TTL: api.Duration(time.Hour)})
			return err
		},
		"Admins.ListAPITokens": func(a Actor) error { _, err := c.Admins.ListAPITokens(ctx, a); return err },
		"Apps.Update":          func(a Actor) error { _, _, err := c.Apps.Update(ctx, a, app); return err },
		"Profiles.List":        func(a Actor) error { _, err := c.PostureProfiles.List(ctx, a); return err },
		"Policies.Get":         func(a Actor) error { _, err := c.Policies.Get(ctx, a, "p"); return err },
		"Groups.Delete":        func(a Actor) error { _, err := c.Groups.Delete(ctx, a, "eng"); return err },
		"Apps.Delete":          func(a Actor) error { _, err := c.Apps.Delete(ctx, a, "grafana"); return err },
		"Policies.Create":      func(a Actor) error { _, _, err := c.Policies.Create(ctx, a, api.Policy{Name: "p"}); return err },
		"Groups.List":          func(a Actor) error { _, err := c.Groups.List(ctx, a); return err },
		"Profiles.Delete":      func(a Actor) error { _, err := c.PostureProfiles.Delete(ctx, a, "p"); return err },
		"Exceptions.List":      func(a Actor) error { _, err := c.Exceptions.List(ctx, a); return err },
		"Exceptions.Get":       func(a Actor) error { _, err := c.Exceptions.Get(ctx, a, "exc-x"); return err },
		"Exceptions.Create": func(a Actor) error {
			_, _, err := c.Exceptions.Create(ctx, a, api.Exception{User: "alice", Checks: []string{"firewall"}, Owner: "o", Reason: "r",
				ExpiresAt: time.Now().Add(time.Hour)})
			return err
		},
		"Exceptions.Delete": func(a Actor) error { _, err := c.Exceptions.Delete(ctx, a, "exc-x"); return err },
		"Explain":           func(a Actor) error { _, err := c.Explain.Explain(ctx, a, "", dev.ID, "grafana"); return err },
	}
	nobody, device := Actor{}, Actor{Kind: ActorEnrollmentToken, Name: dev.ID}
	noRole := Actor{Kind: ActorAPIToken, Name: "norole"}
	for name, op := range ops {
		for _, who := range []Actor{nobody, device, noRole, BootstrapActor} {
			if who == BootstrapActor && name == "Auth.Rotate" {
				continue // the bootstrap token may replace itself
			}
			if err := op(who); !errors.Is(err, ErrForbidden) {
				t.Errorf("%s as %s = %v, want ErrForbidden", name, who, err)
			}
		}
	}
	// Nothing happened: alice and her device are still there, alone.
	users, err := c.Users.List(ctx, testOwner)
	if err != nil || len(users) != 1 || users[0].Name != "alice" || users[0].Email != "" {
		t.Errorf("Users.List after refused operations = %+v, %v, want alice as made", users, err)
	}
	devs, err := c.Devices.List(ctx, testOwner)
	if err != nil || len(devs) != 1 || devs[0].State != "approved" {
		t.Errorf("Devices.List after refused operations = %+v, %v, want alice's device", devs, err)
	}
	if tok := c.Auth.BootstrapToken(); tok == "" {
		t.Fatal("BootstrapToken() on a first start is empty")
	} else if who, err := c.Auth.Authenticate(ctx, tok); err != nil || who != BootstrapActor {
		t.Errorf("Authenticate(bootstrap token) after a refused rotation = %v, %v, want %v", who, err, BootstrapActor)
	}
}

// TestOperationsReturnTheirChange: each write says what it changed and by
// whom; deleting a user names the devices that went with it.
func TestOperationsReturnTheirChange(t *testing.T) {
	c := newCore(t)
	ctx := context.Background()
	admin := testOwner
	change := func(_ any, ch Change, err error) (Change, error) { return ch, err }
	only := func(ch Change, err error) (Change, error) { return ch, err }
	steps := []struct {
		name string
		do   func() (Change, error)
		want Change
	}{
		{"create user", func() (Change, error) { return change(c.Users.Create(ctx, admin, api.User{Name: "alice"})) },
			Change{Kind: Created, Object: ObjectUser, Name: "alice", By: admin}},
		{"update user", func() (Change, error) {
			return change(c.Users.Update(ctx, admin, api.User{Name: "alice", Email: "alice@example.com"}))
		}, Change{Kind: Updated, Object: ObjectUser, Name: "alice", By: admin}},
		{"create group", func() (Change, error) { return change(c.Groups.Create(ctx, admin, api.Group{Name: "eng"})) },
			Change{Kind: Created, Object: ObjectGroup, Name: "eng", By: admin}},
		{"add member", func() (Change, error) { return only(c.Members.Add(ctx, admin, "eng", "alice")) },
			Change{Kind: Added, Object: ObjectMember, Name: "eng/alice", By: admin}},
		{"remove member", func() (Change, error) { return only(c.Members.Remove(ctx, admin, "eng", "alice")) },
			Change{Kind: Removed, Object: ObjectMember, Name: "eng/alice", By: admin}},
		{"create app", func() (Change, error) {
			return change(c.Apps.Create(ctx, admin, api.App{Name: "grafana", Upstreams: []string{"127.0.0.1:3000"}}))
		}, Change{Kind: Created, Object: ObjectApp, Name: "grafana", By: admin}},
		{"create profile", func() (Change, error) {
			return change(c.PostureProfiles.Create(ctx, admin, api.PostureProfile{Name: "hardened", Firewall: true}))
		}, Change{Kind: Created, Object: ObjectPostureProfile, Name: "hardened", By: admin}},
		{"create policy", func() (Change, error) {
			return change(c.Policies.Create(ctx, admin, api.Policy{Name: "eng-grafana", Groups: []string{"eng"}, Apps: []string{"grafana"}}))
		}, Change{Kind: Created, Object: ObjectPolicy, Name: "eng-grafana", By: admin}},
		{"delete policy", func() (Change, error) { return only(c.Policies.Delete(ctx, admin, "eng-grafana")) },
			Change{Kind: Deleted, Object: ObjectPolicy, Name: "eng-grafana", By: admin}},
		{"delete gateway token's gateway", func() (Change, error) {
			tok, ch, err := c.Gateways.CreateToken(ctx, admin, api.GatewayTokenRequest{Name: "site-a"})
			if err == nil && ch.Name != tok.ID {
				t.Errorf("Gateways.CreateToken change names %q, want the token %q", ch.Name, tok.ID)
			}
			return ch, err
		}, Change{Kind: Created, Object: ObjectGatewayToken, By: admin}},
		{"rotate bootstrap token", func() (Change, error) { return change(c.Auth.Rotate(ctx, BootstrapActor)) },
			Change{Kind: Rotated, Object: ObjectAdminToken, Name: "bootstrap", By: BootstrapActor}},
	}
	for _, s := range steps {
		got, err := s.do()
		if err != nil {
			t.Fatalf("%s = %v, want nil", s.name, err)
		}
		if s.want.Object == ObjectGatewayToken {
			s.want.Name = got.Name // a fresh ID, checked above
		}
		if !reflect.DeepEqual(got, s.want) {
			t.Errorf("%s: Change = %+v, want %+v", s.name, got, s.want)
		}
	}

	dev := enrollDevice(t, c, "alice")
	ch, err := c.Users.Delete(ctx, admin, "alice")
	want := Change{Kind: Deleted, Object: ObjectUser, Name: "alice", By: admin, Devices: []string{dev.ID}}
	if err != nil || !reflect.DeepEqual(ch, want) {
		t.Errorf("Users.Delete(alice) = %+v, %v, want %+v", ch, err, want)
	}
	if devs, err := c.Devices.List(ctx, admin); err != nil || len(devs) != 0 {
		t.Errorf("Devices.List after deleting their user = %+v, %v, want none", devs, err)
	}
}

// TestOperationsFailWithTypedErrors: the transport maps errors by kind,
// never by message, so each refusal must carry its kind.
func TestOperationsFailWithTypedErrors(t *testing.T) {
	c := newCore(t)
	ctx := context.Background()
	admin := testOwner
	if _, _, err := c.Users.Create(ctx, admin, api.User{Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	used, _, err := c.Enrollment.CreateToken(ctx, admin, api.EnrollmentTokenRequest{User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	key := base64.StdEncoding.EncodeToString(make([]byte, ed25519.PublicKeySize))
	if _, _, err := c.Enrollment.Enroll(ctx, api.EnrollRequest{Token: used.Token, PublicKey: key, Hostname: "laptop"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"create a user twice", func() error { _, _, err := c.Users.Create(ctx, admin, api.User{Name: "alice"}); return err }, ErrConflict},
		{"get a missing user", func() error { _, err := c.Users.Get(ctx, admin, "nobody"); return err }, ErrNotFound},
		{"delete a missing app", func() error { _, err := c.Apps.Delete(ctx, admin, "nobody"); return err }, ErrNotFound},
		{"app without upstreams", func() error { _, _, err := c.Apps.Create(ctx, admin, api.App{Name: "x"}); return err }, ErrInvalid},
		{"update a group", func() error { _, _, err := c.Groups.Update(ctx, admin, api.Group{Name: "eng"}); return err }, ErrInvalid},
		{"add a missing member", func() error { _, err := c.Members.Add(ctx, admin, "eng", "nobody"); return err }, ErrNotFound},
		{"token for a missing user", func() error {
			_, _, err := c.Enrollment.CreateToken(ctx, admin, api.EnrollmentTokenRequest{User: "nobody"})
			return err
		}, ErrInvalid},
		{"revoke a missing token", func() error { _, err := c.Enrollment.RevokeToken(ctx, admin, "et_nobody"); return err }, ErrNotFound},
		{"enroll with a used token", func() error {
			_, _, err := c.Enrollment.Enroll(ctx, api.EnrollRequest{Token: used.Token, PublicKey: key, Hostname: "laptop2"})
			return err
		}, ErrTokenRefused},
		{"enroll with an unknown token", func() error {
			_, _, err := c.Enrollment.Enroll(ctx, api.EnrollRequest{Token: "ghe_guess", PublicKey: key, Hostname: "laptop2"})
			return err
		}, ErrTokenRefused},
		{"enroll with a bad hostname", func() error {
			_, _, err := c.Enrollment.Enroll(ctx, api.EnrollRequest{Token: "ghe_guess", PublicKey: key, Hostname: "a b"})
			return err
		}, ErrInvalid},
		{"enroll with a bad key", func() error {
			_, _, err := c.Enrollment.Enroll(ctx, api.EnrollRequest{Token: "ghe_guess", PublicKey: "AAAA", Hostname: "laptop"})
			return err
		}, ErrInvalid},
		{"a wrong admin token", func() error { _, err := c.Auth.Authenticate(ctx, "gha_wrong"); return err }, ErrUnauthenticated},
		{"an empty admin token", func() error { _, err := c.Auth.Authenticate(ctx, ""); return err }, ErrUnauthenticated},
		{"gateway token with a bad name", func() error {
			_, _, err := c.Gateways.CreateToken(ctx, admin, api.GatewayTokenRequest{Name: "bad name"})
			return err
		}, ErrInvalid},
		{"gateway with an unknown token", func() error {
			_, _, err := c.Gateways.Enroll(ctx, api.GatewayEnrollRequest{Token: "ghg_guess", PublicKey: key})
			return err
		}, ErrTokenRefused},
		{"delete a missing gateway", func() error { _, err := c.Gateways.Delete(ctx, admin, "nobody"); return err }, ErrNotFound},
		{"delete a missing device", func() error { _, err := c.Devices.Delete(ctx, admin, "dev_nobody"); return err }, ErrNotFound},
	}
	kinds := []error{ErrInvalid, ErrNotFound, ErrConflict, ErrTokenRefused, ErrUnauthenticated, ErrForbidden}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			for _, k := range kinds {
				if got, want := errors.Is(err, k), k == tt.want; got != want {
					t.Errorf("%s = %v: errors.Is(%v) = %v, want %v", tt.name, err, k, got, want)
				}
			}
		})
	}
	// The used token's refusal keeps the store's words.
	_, _, err = c.Enrollment.Enroll(ctx, api.EnrollRequest{Token: used.Token, PublicKey: key, Hostname: "laptop3"})
	if err == nil || !strings.HasPrefix(err.Error(), "enrollment token already used") {
		t.Errorf("Enroll(used token) = %v, want the message to start %q", err, "enrollment token already used")
	}
}
