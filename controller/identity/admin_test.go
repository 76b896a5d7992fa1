package identity

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

func TestBootstrapAndRoles(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := t.Context()
	if err := e.Bootstrap(ctx, api.User{Name: "root"}, "short"); !errors.Is(err, ErrWeakPassword) {
		t.Errorf("Bootstrap with a short password = %v, want %v", err, ErrWeakPassword)
	}
	if err := e.Bootstrap(ctx, api.User{Name: "root", Email: "root@example.com"}, pw); err != nil {
		t.Fatalf("Bootstrap = %v", err)
	}
	if evs := e.take(); len(evs) != 1 || evs[0].Kind != RoleChanged || evs[0].Detail != "owner" || evs[0].By != "bootstrap:bootstrap" {
		t.Errorf("events of Bootstrap = %+v, want one %v to owner by bootstrap", evs, RoleChanged)
	}
	if err := e.Bootstrap(ctx, api.User{Name: "mallory"}, pw); !errors.Is(err, ErrBootstrapDone) {
		t.Errorf("Bootstrap again = %v, want %v", err, ErrBootstrapDone)
	}
	if _, err := e.CheckPassword(ctx, Login{User: "root", Password: pw}); err != nil {
		t.Errorf("the first owner cannot sign in: %v", err)
	}
	root := Principal{Kind: PrincipalUser, Name: "root", Role: Owner}
	admin := Principal{Kind: PrincipalUser, Name: "adm", Role: Admin}
	e.user(t, "bob")
	tests := []struct {
		name    string
		by      Principal
		user    string
		role    Role
		wantErr error
	}{
		{name: "admin may not grant roles", by: admin, user: "bob", role: Auditor, wantErr: ErrForbidden},
		{name: "unknown role", by: root, user: "bob", role: "superuser", wantErr: errAnyErr},
		{name: "owner grants admin", by: root, user: "bob", role: Admin},
		{name: "last owner may not step down", by: root, user: "root", role: Admin, wantErr: ErrLastOwner},
		{name: "owner makes bob owner", by: root, user: "bob", role: Owner},
		{name: "now root may step down", by: root, user: "root", role: Auditor},
		{name: "unknown user", by: root, user: "nobody", role: Admin, wantErr: ErrNotFound},
		{name: "take a role away", by: root, user: "root", role: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.SetRole(t.Context(), tt.by, tt.user, tt.role)
			if tt.wantErr == errAnyErr {
				if err == nil {
					t.Errorf("SetRole(%s, %q) = nil, want an error", tt.user, tt.role)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Errorf("SetRole(%s, %q) by %s = %v, want %v", tt.user, tt.role, tt.by, err, tt.wantErr)
			}
		})
	}
	admins, _ := e.st.ListAdmins(ctx)
	if len(admins) != 1 || admins[0].User != "bob" || admins[0].Role != "owner" {
		t.Errorf("admins = %+v, want bob the owner only", admins)
	}
}

// errAnyErr stands for "some error".
var errAnyErr = errors.New("any error")

func TestAPITokens(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := t.Context()
	admin := Principal{Kind: PrincipalUser, Name: "adm", Role: Admin}
	helpdesk := Principal{Kind: PrincipalUser, Name: "hd", Role: Helpdesk}
	if _, _, err := e.CreateAPIToken(ctx, admin, "ci", Owner, time.Hour); !errors.Is(err, ErrForbidden) {
		t.Errorf("admin issuing an owner token = %v, want %v", err, ErrForbidden)
	}
	if _, _, err := e.CreateAPIToken(ctx, helpdesk, "ci", Helpdesk, time.Hour); !errors.Is(err, ErrForbidden) {
		t.Errorf("helpdesk issuing a token = %v, want %v", err, ErrForbidden)
	}
	if _, _, err := e.CreateAPIToken(ctx, admin, "ci", Auditor, 0); err == nil {
		t.Errorf("a token without a lifetime = nil, want an error")
	}
	secret, rec, err := e.CreateAPIToken(ctx, admin, "ci", Auditor, time.Hour)
	if err != nil {
		t.Fatalf("CreateAPIToken = %v", err)
	}
	if !strings.HasPrefix(secret, apiPrefix) || rec.Name != "ci" || rec.Role != "auditor" || rec.CreatedBy != "user:adm" || !rec.ExpiresAt.Equal(start.Add(time.Hour)) {
		t.Errorf("CreateAPIToken = %q, %+v", secret, rec)
	}
	if _, _, err := e.CreateAPIToken(ctx, admin, "ci", Auditor, time.Hour); !errors.Is(err, store.ErrExists) {
		t.Errorf("a second live token named ci = %v, want exists", err)
	}
	p, err := e.AuthenticateAPIToken(ctx, secret)
	if err != nil || p != (Principal{Kind: PrincipalToken, Name: "ci", Role: Auditor}) {
		t.Errorf("AuthenticateAPIToken = %+v, %v, want token:ci as auditor", p, err)
	}
	for _, bad := range []string{"", "ghk_nope", secret + "x", "gha_" + secret[4:]} {
		if _, err := e.AuthenticateAPIToken(ctx, bad); !errors.Is(err, ErrTokenInvalid) {
			t.Errorf("AuthenticateAPIToken(%q) = %v, want %v", bad, err, ErrTokenInvalid)
		}
	}
	e.clock.Advance(time.Hour)
	if _, err := e.AuthenticateAPIToken(ctx, secret); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("AuthenticateAPIToken after expiry = %v, want %v", err, ErrTokenExpired)
	}
	secret2, rec2, err := e.CreateAPIToken(ctx, owner, "deploy", Admin, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.RevokeAPIToken(ctx, helpdesk, rec2.ID); !errors.Is(err, ErrForbidden) {
		t.Errorf("RevokeAPIToken by helpdesk = %v, want %v", err, ErrForbidden)
	}
	e.take()
	if err := e.RevokeAPIToken(ctx, admin, rec2.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.kinds(); !hasKinds(got, APITokenRevoked) {
		t.Errorf("events = %v, want [%v]", got, APITokenRevoked)
	}
	if _, err := e.AuthenticateAPIToken(ctx, secret2); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("AuthenticateAPIToken after revoke = %v, want %v", err, ErrTokenExpired)
	}
	toks, _ := e.ListAPITokens(ctx)
	if len(toks) != 2 {
		t.Errorf("ListAPITokens = %+v, want 2", toks)
	}
}

func TestAdminPrincipal(t *testing.T) {
	e := newEnv(t, Config{AdminMFAMaxAge: 12 * time.Hour})
	ctx := t.Context()
	e.user(t, "bob")   // no role
	e.user(t, "carol") // admin without TOTP
	e.user(t, "dave")  // admin with TOTP
	for _, u := range []string{"carol", "dave"} {
		if err := e.st.SetRole(ctx, u, "admin"); err != nil {
			t.Fatal(err)
		}
	}
	seed := e.withTOTP(t, "dave")
	e.clock.Advance(totpPeriod * time.Second)
	bob, _ := e.signIn(t, "bob", "", "b")
	carol, _ := e.signIn(t, "carol", "", "c")
	dave, _ := e.signIn(t, "dave", seed, "d")
	if _, err := e.AdminPrincipal(ctx, bob); !errors.Is(err, ErrForbidden) {
		t.Errorf("AdminPrincipal(no role) = %v, want %v", err, ErrForbidden)
	}
	if _, err := e.AdminPrincipal(ctx, carol); !errors.Is(err, ErrMFARequired) {
		t.Errorf("AdminPrincipal(no MFA) = %v, want %v", err, ErrMFARequired)
	}
	if p, err := e.AdminPrincipal(ctx, dave); err != nil || p != (Principal{Kind: PrincipalUser, Name: "dave", Role: Admin}) {
		t.Errorf("AdminPrincipal(dave) = %+v, %v, want user:dave as admin", p, err)
	}
	e.clock.Advance(12*time.Hour + time.Second)
	if _, err := e.AdminPrincipal(ctx, dave); !errors.Is(err, ErrMFATooOld) {
		t.Errorf("AdminPrincipal 12h after MFA = %v, want %v", err, ErrMFATooOld)
	}
}
